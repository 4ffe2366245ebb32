# A byte-level tokenizer with no merges, written as Hugging Face tokenizer.json/tokenizer_config.json: one token
# per byte (id = the byte's value, 0..255), then "<s>" (BOS, 256) and "</s>" (EOS, 257). Any text encodes, no
# training step is needed, and the C++ loader (model/tokenizer) reads it as an ordinary byte-level BPE.
"""Byte-level tokenizer files for the demo's from-scratch model."""

BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"
BOS_ID = 256
EOS_ID = 257
VOCAB_SIZE = 258


def bytes_to_unicode():
    """GPT-2's byte -> character table, from its definition.

    Bytes that are printable Latin-1 characters ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for
    themselves; the other 68 bytes (controls, space, DEL, NBSP, soft hyphen, ...) take the code points 256,
    257, ... in byte order, so every byte has a visible, non-whitespace character.
    """
    printable = set(range(ord("!"), ord("~") + 1))
    printable |= set(range(0xA1, 0xAC + 1))
    printable |= set(range(0xAE, 0xFF + 1))
    table = {}
    next_code_point = 256
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(next_code_point)
            next_code_point += 1
    return table


def encode(text, add_bos=True):
    """The ids the tokenizer gives `text`: BOS (when add_bos), then its UTF-8 bytes. A reference for tests."""
    ids = [BOS_ID] if add_bos else []
    return ids + list(text.encode("utf-8"))


def _special(content, token_id):
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": True,
    }


def tokenizer_json():
    """tokenizer.json as a dict.

    ByteLevel with use_regex false: with no merges the GPT-2 word split cannot change the ids, so it is left
    out (model/tokenizer/pre_tokenizers.cc reads both). add_prefix_space false: text is encoded as given.
    """
    vocab = {char: byte for byte, char in bytes_to_unicode().items()}
    vocab[BOS_TOKEN] = BOS_ID
    vocab[EOS_TOKEN] = EOS_ID
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [_special(BOS_TOKEN, BOS_ID), _special(EOS_TOKEN, EOS_ID)],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": BOS_TOKEN, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": BOS_TOKEN, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": BOS_TOKEN, "type_id": 1}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {BOS_TOKEN: {"id": BOS_TOKEN, "ids": [BOS_ID], "tokens": [BOS_TOKEN]}},
        },
        "decoder": dict(byte_level),
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [],
        },
    }


def tokenizer_config_json(model_max_length):
    """tokenizer_config.json as a dict: the special tokens by role (the trainer appends eos_token to every
    training record and pads with it) and add_bos_token, as transformers' Llama tokenizers write it."""
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "pad_token": None,
        "unk_token": None,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
