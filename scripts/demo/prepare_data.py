#!/usr/bin/env python3
# The demo's data, from what Debian installs: general English text for pretraining (plus held-out and haystack
# slices), the licence-identification task, a byte-level tokenizer and the small Llama config. Standard library
# only; the same inputs give the same bytes.
"""Usage: prepare_data.py --out DIR [--quick] [--task FILE.jsonl] [--doc-root DIR] [--text-root DIR]

Writes under DIR:
  general/train.jsonl     {"text"} chunks of 1-2 KB of whole paragraphs (pretraining, sample packing)
  general/heldout.txt     held-out general text (perplexity suite, early_stopping.general_eval_dataset)
  general/haystack.txt    another held-out slice (the long_context suite's haystack)
  task/                   config.json, train_0.jsonl, test.jsonl (eval/suites/task.h's layout), and
                          task_train.jsonl: the train split as {"prompt", "completion"} for fine-tuning
  tokenizer/              tokenizer.json, tokenizer_config.json (bytes 0..255 = ids 0..255, <s> 256, </s> 257)
  model_config.json       the Llama config for `ftctl model init --config`
  summary.json            what was written and from where
Exit code 2 when the inputs cannot make the data (no general text, a task with too few classes or examples).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import byte_tokenizer  # noqa: E402
import general_text  # noqa: E402
import licence_task  # noqa: E402

# Sizes by mode. Held-out text is scored on every guardrail evaluation on 2 CPU cores, so it stays small; the
# haystack only needs to fill the longest long_context prompt (max_position_embeddings tokens, 1 byte each).
SIZES = {
    "full": {"train_bytes": None, "heldout_bytes": 32 * 1024, "haystack_bytes": 24 * 1024,
             "train_cap": None, "test_cap": None},
    "quick": {"train_bytes": 200 * 1024, "heldout_bytes": 8 * 1024, "haystack_bytes": 24 * 1024,
              "train_cap": 120, "test_cap": 40},
}

MODEL_SHAPES = {
    "full": {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4, "num_attention_heads": 4,
             "num_key_value_heads": 2, "max_position_embeddings": 1024},
    "quick": {"hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "max_position_embeddings": 512},
}


class DataError(Exception):
    """Inputs that cannot make the demo's data; main prints it and exits 2."""


def model_config(mode):
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": byte_tokenizer.VOCAB_SIZE,
        "bos_token_id": byte_tokenizer.BOS_ID,
        "eos_token_id": byte_tokenizer.EOS_ID,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "attention_bias": False,
        "mlp_bias": False,
        "torch_dtype": "float32",
    }
    config.update(MODEL_SHAPES[mode])
    return config


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return len(text.encode("utf-8"))


def write_json(path, value):
    return write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path, records):
    return write_text(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def prepare_general(out, doc_root, text_root, sizes):
    sources, chunks = general_text.read_sources(doc_root, text_root)
    if not chunks:
        raise DataError(f"no general text found under {text_root}/games/fortunes, {doc_root}/jargon-text or "
                        f"{doc_root}/debian/FAQ: install fortunes fortunes-min jargon-text debian-faq")
    split = general_text.split_chunks(chunks, sizes["heldout_bytes"], sizes["haystack_bytes"],
                                      sizes["train_bytes"])
    if not split.train:
        raise DataError("the general text is too small to leave any training text after the held-out slices")
    summary = {
        "train_jsonl": {"records": len(split.train),
                        "bytes": write_jsonl(os.path.join(out, "general", "train.jsonl"),
                                             [{"text": chunk.text} for chunk in split.train]),
                        "text_bytes": sum(len(chunk.text.encode("utf-8")) for chunk in split.train)},
        "heldout_txt": {"chunks": len(split.heldout),
                        "bytes": write_text(os.path.join(out, "general", "heldout.txt"),
                                            "\n\n".join(chunk.text for chunk in split.heldout) + "\n")},
        "haystack_txt": {"chunks": len(split.haystack),
                         "bytes": write_text(os.path.join(out, "general", "haystack.txt"),
                                             "\n\n".join(chunk.text for chunk in split.haystack) + "\n")},
        "sources": [{"name": source.name, "files": source.files, "raw_bytes": source.raw_bytes,
                     "kept_bytes": source.kept_bytes, "chunks": source.chunks,
                     "train_bytes": sum(len(chunk.text.encode("utf-8")) for chunk in split.train
                                        if chunk.source == source.name)}
                    for source in sources],
    }
    return summary


def prepare_task(out, doc_root, user_task, sizes):
    if user_task:
        pairs = licence_task.read_user_task(user_task)
        stem = os.path.splitext(os.path.basename(user_task))[0]
        name = "".join(char if char.isalnum() or char in "-_" else "_" for char in stem) or "user_task"
        task = licence_task.build_task(pairs, licence_task.USER_TEMPLATES, train_cap=sizes["train_cap"],
                                       test_cap=sizes["test_cap"])
        origin = {"kind": "user", "file": user_task, "pairs": len(pairs)}
    else:
        pairs, scan = licence_task.copyright_examples(doc_root)
        name = "licence_id"
        try:
            task = licence_task.build_task(pairs, licence_task.LICENCE_TEMPLATES, licence_task.NUM_CLASSES,
                                           licence_task.MIN_CLASS_TEXTS, sizes["train_cap"], sizes["test_cap"])
        except licence_task.TaskError as e:
            raise licence_task.TaskError(f"{e} (from {scan.dep5_files} DEP-5 of {scan.files} copyright files "
                                         f"under {doc_root})") from e
        origin = {"kind": "debian-copyright", "doc_root": doc_root, "copyright_files": scan.files,
                  "dep5_files": scan.dep5_files, "license_paragraphs": scan.paragraphs,
                  "combinations_dropped": scan.combinations, "pairs": len(pairs)}
    config = {"name": name, "task_type": "classification", "options": task.options}
    config.update(task.templates)
    task_dir = os.path.join(out, "task")
    write_json(os.path.join(task_dir, "config.json"), config)

    def records(examples, split):
        return [{"text": example.text, "label": example.label, "id": f"{split}_{index}"}
                for index, example in enumerate(examples)]

    file_bytes = {
        "train_0.jsonl": write_jsonl(os.path.join(task_dir, "train_0.jsonl"), records(task.train, "train")),
        "test.jsonl": write_jsonl(os.path.join(task_dir, "test.jsonl"), records(task.test, "test")),
        # The prompt is the text the scorer builds (TaskPrompt, no demonstrations), so training and scoring
        # see the same bytes; the trainer adds EOS after the completion.
        "task_train.jsonl": write_jsonl(
            os.path.join(task_dir, "task_train.jsonl"),
            [{"prompt": licence_task.task_prompt(task.templates, example.text), "completion": " " + example.label}
             for example in task.train]),
    }
    counts = {label: {"train": sum(1 for e in task.train if e.label == label),
                      "test": sum(1 for e in task.test if e.label == label)} for label in task.options}
    return {"name": name, "origin": origin, "options": task.options, "class_counts": counts,
            "train": len(task.train), "test": len(task.test), "file_bytes": file_bytes,
            "duplicate_texts": task.duplicates, "conflicting_texts_dropped": task.conflicts,
            "classes_dropped": task.dropped_classes}


def prepare_tokenizer(out, max_length):
    directory = os.path.join(out, "tokenizer")
    write_json(os.path.join(directory, "tokenizer.json"), byte_tokenizer.tokenizer_json())
    write_json(os.path.join(directory, "tokenizer_config.json"), byte_tokenizer.tokenizer_config_json(max_length))
    return {"vocab_size": byte_tokenizer.VOCAB_SIZE, "bos": [byte_tokenizer.BOS_TOKEN, byte_tokenizer.BOS_ID],
            "eos": [byte_tokenizer.EOS_TOKEN, byte_tokenizer.EOS_ID], "byte_ids": "id = byte value (0..255)"}


def print_report(summary):
    general = summary["general"]
    print("general text (bytes):")
    for source in general["sources"]:
        print(f"  {source['name']:<12} files {len(source['files']):>3}  read {source['raw_bytes']:>9}  "
              f"kept {source['kept_bytes']:>9}  in train {source['train_bytes']:>9}")
    print(f"  train.jsonl  {general['train_jsonl']['records']} records, {general['train_jsonl']['text_bytes']} bytes "
          f"of text; heldout.txt {general['heldout_txt']['bytes']} bytes; "
          f"haystack.txt {general['haystack_txt']['bytes']} bytes")
    task = summary["task"]
    print(f"task {task['name']}: {len(task['options'])} classes, {task['train']} train / {task['test']} test")
    for label, counts in task["class_counts"].items():
        print(f"  {label:<24} train {counts['train']:>4}  test {counts['test']:>4}")
    print(f"model_config.json: {summary['model']}")


def run(args):
    mode = "quick" if args.quick else "full"
    sizes = SIZES[mode]
    out = args.out
    os.makedirs(out, exist_ok=True)
    summary = {"mode": mode}
    summary["general"] = prepare_general(out, args.doc_root, args.text_root, sizes)
    try:
        summary["task"] = prepare_task(out, args.doc_root, args.task, sizes)
    except licence_task.TaskError as e:
        raise DataError(f"task: {e}") from e
    config = model_config(mode)
    write_json(os.path.join(out, "model_config.json"), config)
    summary["tokenizer"] = prepare_tokenizer(out, config["max_position_embeddings"])
    summary["model"] = {key: config[key] for key in MODEL_SHAPES[mode]}
    write_json(os.path.join(out, "summary.json"), summary)
    print_report(summary)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Prepares the demo's data from Debian packages.")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--quick", action="store_true", help="CI-sized data and model")
    parser.add_argument("--task", help="JSONL of {\"text\", \"label\"}: the task to use instead of licences")
    parser.add_argument("--doc-root", default="/usr/share/doc", help="where copyright files and docs are")
    parser.add_argument("--text-root", default="/usr/share", help="where games/fortunes is")
    return parser.parse_args(argv)


def main(argv):
    try:
        run(parse_args(argv))
    except DataError as e:
        print(f"prepare_data: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
