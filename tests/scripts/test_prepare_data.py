# scripts/demo/prepare_data.py on a made-up doc root and text root: every output's format, the split's
# determinism and disjointness, prompts equal to the task template's filling, the tokenizer (through ftctl's
# C++ loader when FTCTL_BIN is set), a user --task file, and exit code 2 for a task that cannot be built.
"""Tests for the demo's data preparation (standard library only)."""

import gzip
import json
import os
import subprocess
import sys
import tempfile
import unittest

SOURCE_DIR = os.environ.get("FTD_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
DEMO_DIR = os.path.join(SOURCE_DIR, "scripts", "demo")
SCRIPT = os.path.join(DEMO_DIR, "prepare_data.py")
sys.path.insert(0, DEMO_DIR)

import licence_task  # noqa: E402

DEP5_HEADER = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: {name}\n"
OFFENSIVE_MARKER = "OFFENSIVEMARKER"
INDEX_MARKER = "INDEXFILEMARKER"
NON_DEP5_MARKER = "NONDEPFIVEMARKER"
WORDS = ("the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches near old "
         "rivers and tall mountains under bright morning light").split()


def sentence(seed, length):
    """Made-up English of `length` words, told apart by its seed."""
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(length)).capitalize() + f" {seed}."


def licence_paragraph(name, text):
    lines = [f"License: {name}"]
    for i, para in enumerate(text.split("\n\n")):
        if i:
            lines.append(" .")
        lines.extend(" " + line for line in para.split("\n"))
    return "\n".join(lines) + "\n"


def dep5_file(package, paragraphs, http=False):
    header = DEP5_HEADER.format(name=package)
    if http:
        header = header.replace("https://", "http://")
    files = "Files: *\nCopyright: 2024 Someone\nLicense: GPL-2+\n"  # A Files paragraph: no stand-alone text.
    return header + "\n" + files + "\n" + "\n".join(paragraphs)


def write(path, data, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


def make_doc_root(root):
    """Copyright files with three kept classes under several spellings, plus what must be dropped."""
    spellings = {"GPL-2+": ["GPL-2+", "GPLv2+", "GPL-2.0+"], "MIT": ["MIT", "Expat"],
                 "BSD-3-clause": ["BSD-3-Clause", "BSD-3-clause"]}
    for label, names in spellings.items():
        for i in range(14):
            text = f"{label} text {i}: {sentence(i, 30)}\n\n{sentence(i + 1, 40)}"
            package = f"pkg-{label.lower()}-{i}"
            paragraphs = [licence_paragraph(names[i % len(names)], text)]
            write(os.path.join(root, package, "copyright"), dep5_file(package, paragraphs, http=i % 2 == 1))
    # The same text in another package: deduplicated.
    write(os.path.join(root, "pkg-copy", "copyright"),
          dep5_file("pkg-copy", [licence_paragraph("GPL-2+", f"GPL-2+ text 0: {sentence(0, 30)}\n\n"
                                                             f"{sentence(1, 40)}")]))
    # A rare class and "X or Y" combinations: dropped.
    rare = [licence_paragraph("Zlib", f"Zlib text {i}: {sentence(i, 20)}") for i in range(2)]
    combos = [licence_paragraph(name, f"Combined text {i}: {sentence(i, 20)}")
              for i, name in enumerate(["GPL-2+ or Artistic"] * 9 + ["MIT and BSD-3-clause"] * 9)]
    write(os.path.join(root, "pkg-rare", "copyright"), dep5_file("pkg-rare", rare + combos))
    # Not DEP-5: its License paragraphs must be ignored.
    write(os.path.join(root, "pkg-old", "copyright"),
          "This package was debianized by someone.\n\n" +
          "\n".join(licence_paragraph("ISC", f"{NON_DEP5_MARKER} {i} {sentence(i, 20)}") for i in range(20)))
    # The general text sources that live under the doc root.
    jargon = "\n\n".join(f"   :term {i}: n.\n\n   {sentence(i, 25)}\n   {sentence(i + 2, 25)}" for i in range(60))
    write(os.path.join(root, "jargon-text", "jargon.txt.gz"), gzip.compress(jargon.encode(), mtime=0), "wb")
    faq = "\n\n".join(f"{i}. Question {i}?\n\n    {sentence(i, 30)}\n    {sentence(i + 5, 30)}" for i in range(40))
    faq_dir = os.path.join(root, "debian", "FAQ")
    write(os.path.join(faq_dir, "debian-faq.en.txt.gz"), gzip.compress(faq.encode(), mtime=0), "wb")
    os.symlink("debian-faq.en.txt.gz", os.path.join(faq_dir, "debian-faq.txt.gz"))


def make_text_root(root):
    fortunes = os.path.join(root, "games", "fortunes")
    entries = [f"{sentence(i, 12)}\n{sentence(i + 3, 14)}\n\t\t-- Author {i}" for i in range(400)]
    entries.append("\u00e9\u00e8\u00ea\u00eb " * 30)  # Mostly non-ASCII: dropped.
    write(os.path.join(fortunes, "wisdom"), "\n%\n".join(entries) + "\n%\n")
    write(os.path.join(fortunes, "wisdom.dat"), INDEX_MARKER)
    os.symlink("wisdom", os.path.join(fortunes, "wisdom.u8"))
    write(os.path.join(fortunes, "off", "rude"), f"{OFFENSIVE_MARKER} joke\n%\n")


def run_prepare(out, doc_root, text_root, *extra):
    return subprocess.run([sys.executable, SCRIPT, "--out", out, "--doc-root", doc_root, "--text-root", text_root,
                           *extra], capture_output=True, text=True, timeout=60)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def all_files(root):
    result = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                result[os.path.relpath(path, root)] = f.read()
    return result


class PrepareDataTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.doc_root = os.path.join(cls.tmp.name, "doc")
        cls.text_root = os.path.join(cls.tmp.name, "share")
        make_doc_root(cls.doc_root)
        make_text_root(cls.text_root)
        cls.out = os.path.join(cls.tmp.name, "out")
        cls.result = run_prepare(cls.out, cls.doc_root, cls.text_root, "--quick")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)

    def test_writes_every_output(self):
        expected = {"general/train.jsonl", "general/heldout.txt", "general/haystack.txt", "task/config.json",
                    "task/train_0.jsonl", "task/test.jsonl", "task/task_train.jsonl", "tokenizer/tokenizer.json",
                    "tokenizer/tokenizer_config.json", "model_config.json", "summary.json"}
        self.assertEqual(set(all_files(self.out)), expected)

    def test_same_inputs_give_same_bytes(self):
        again = os.path.join(self.tmp.name, "again")
        result = run_prepare(again, self.doc_root, self.text_root, "--quick")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(all_files(self.out), all_files(again))

    def test_general_text_chunks_and_held_out_slices(self):
        records = read_jsonl(os.path.join(self.out, "general", "train.jsonl"))
        self.assertGreater(len(records), 5)
        for record in records:
            self.assertEqual(set(record), {"text"})
            self.assertLessEqual(len(record["text"].encode()), 2048)
            self.assertNotIn("\t", record["text"])
        with open(os.path.join(self.out, "general", "heldout.txt"), encoding="utf-8") as f:
            heldout = f.read()
        with open(os.path.join(self.out, "general", "haystack.txt"), encoding="utf-8") as f:
            haystack = f.read()
        self.assertGreaterEqual(len(haystack.encode()), 20 * 1024)
        self.assertGreater(len(heldout), 1000)
        everything = "\n".join(record["text"] for record in records) + heldout + haystack
        # No offensive fortunes, no index files, no mostly non-ASCII entry; fortunes' tab indents collapsed.
        for marker in (OFFENSIVE_MARKER, INDEX_MARKER, "\u00e9", "\t"):
            self.assertFalse(marker in everything, f"{marker!r} in the general text")
        self.assertIn("\n-- Author 0\n", everything)
        # Every source contributed; the FAQ reached through two names was read once.
        summary = read_json(os.path.join(self.out, "summary.json"))
        sources = {source["name"]: source for source in summary["general"]["sources"]}
        self.assertEqual(set(sources), {"fortunes", "jargon-text", "debian-faq"})
        self.assertEqual(len(sources["debian-faq"]["files"]), 1)
        self.assertEqual(len(sources["fortunes"]["files"]), 1)
        self.assertTrue(all(source["kept_bytes"] > 0 for source in sources.values()))
        # Held-out text is never trained on: no train chunk's paragraph is in the held-out slices.
        held_paragraphs = set((heldout + "\n\n" + haystack).split("\n\n"))
        for record in records:
            for paragraph in record["text"].split("\n\n"):
                self.assertNotIn(paragraph, held_paragraphs)

    def test_task_classes_and_split(self):
        config = read_json(os.path.join(self.out, "task", "config.json"))
        self.assertEqual(config["name"], "licence_id")
        self.assertEqual(config["task_type"], "classification")
        self.assertEqual(sorted(config["options"]), ["BSD-3-clause", "GPL-2+", "MIT"])
        self.assertEqual(config["demonstration_prompt"], "Licence text: {text}\nLicence: {label}")
        self.assertEqual(config["inference_prompt"], "Licence text: {text}\nLicence:")
        train = read_jsonl(os.path.join(self.out, "task", "train_0.jsonl"))
        test = read_jsonl(os.path.join(self.out, "task", "test.jsonl"))
        texts = [record["text"] for record in train + test]
        self.assertEqual(len(texts), len(set(texts)), "texts are deduplicated and the splits disjoint")
        self.assertEqual(len(texts), 42)  # 14 distinct texts for each of 3 classes.
        for split, records in (("train", train), ("test", test)):
            self.assertEqual([record["id"] for record in records], [f"{split}_{i}" for i in range(len(records))])
            for record in records:
                self.assertEqual(set(record), {"text", "label", "id"})
                self.assertIn(record["label"], config["options"])
                self.assertLessEqual(len(record["text"]), licence_task.TEXT_CHARS)
                self.assertNotIn("  ", record["text"])
                self.assertNotIn(NON_DEP5_MARKER, record["text"])
        for label in config["options"]:
            self.assertGreaterEqual(sum(1 for record in test if record["label"] == label), 2)
            self.assertGreaterEqual(sum(1 for record in train if record["label"] == label), 1)
        # The ratio the hash aims at (~25%), loosely: 42 texts.
        self.assertTrue(6 <= len(test) <= 18, len(test))
        summary = read_json(os.path.join(self.out, "summary.json"))["task"]
        self.assertEqual(summary["origin"]["dep5_files"], 14 * 3 + 2)
        self.assertEqual(summary["origin"]["combinations_dropped"], 18)
        self.assertIn("Zlib", summary["classes_dropped"])

    def test_task_train_prompts_are_the_templates_filling(self):
        config = read_json(os.path.join(self.out, "task", "config.json"))
        train = read_jsonl(os.path.join(self.out, "task", "train_0.jsonl"))
        pairs = read_jsonl(os.path.join(self.out, "task", "task_train.jsonl"))
        self.assertEqual(len(pairs), len(train))
        for record, pair in zip(train, pairs):
            self.assertEqual(set(pair), {"prompt", "completion"})
            # TaskPrompt with no demonstrations: instruction, blank line, inference_prompt filled.
            expected = config["instruction"] + "\n\n" + config["inference_prompt"].format(text=record["text"])
            self.assertEqual(pair["prompt"], expected)
            self.assertTrue(pair["prompt"].endswith("\nLicence:"))
            self.assertEqual(pair["completion"], " " + record["label"])

    def test_tokenizer_files(self):
        tokenizer = read_json(os.path.join(self.out, "tokenizer", "tokenizer.json"))
        vocab = tokenizer["model"]["vocab"]
        self.assertEqual(len(vocab), 258)
        self.assertEqual(sorted(vocab.values()), list(range(258)))
        self.assertEqual(tokenizer["model"]["merges"], [])
        self.assertEqual((vocab["<s>"], vocab["</s>"]), (256, 257))
        self.assertEqual(vocab["A"], ord("A"))
        self.assertEqual(vocab["\u0120"], ord(" "))  # GPT-2's space character.
        self.assertEqual(vocab["\u010a"], ord("\n"))
        self.assertTrue(all(len(token) == 1 for token in vocab if token not in ("<s>", "</s>")))
        config = read_json(os.path.join(self.out, "tokenizer", "tokenizer_config.json"))
        self.assertEqual((config["bos_token"], config["eos_token"], config["add_bos_token"]), ("<s>", "</s>", True))

    def test_tokenizer_round_trips_through_the_cpp_loader(self):
        ftctl = os.environ.get("FTCTL_BIN")
        if not ftctl:
            self.skipTest("FTCTL_BIN is not set (ctest sets it to the built ftctl)")
        texts = ["Hello, world!\nLicence: GPL-2+", "caf\u00e9 \u00a9 2024\ttab"]
        inputs = os.path.join(self.tmp.name, "texts.jsonl")
        write(inputs, "".join(json.dumps(text) + "\n" for text in texts))
        result = subprocess.run([ftctl, "model", "tokenize", os.path.join(self.out, "tokenizer"), "--file", inputs],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        ids = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertEqual(ids, [[256] + list(text.encode("utf-8")) for text in texts])

    def test_model_config(self):
        config = read_json(os.path.join(self.out, "model_config.json"))
        self.assertEqual(config["architectures"], ["LlamaForCausalLM"])
        self.assertEqual((config["vocab_size"], config["bos_token_id"], config["eos_token_id"]), (258, 256, 257))
        self.assertEqual((config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"],
                          config["num_attention_heads"], config["num_key_value_heads"],
                          config["max_position_embeddings"]), (64, 176, 2, 4, 2, 512))
        self.assertTrue(config["tie_word_embeddings"])

    def test_user_task_file(self):
        task_file = os.path.join(self.tmp.name, "reviews.jsonl")
        lines = [json.dumps({"text": f"review {i}: {sentence(i, 8)}", "label": ["good", "bad", "meh"][i % 3]})
                 for i in range(45)]
        write(task_file, "\n".join(lines + [lines[0]]) + "\n")  # One duplicate.
        out = os.path.join(self.tmp.name, "user")
        result = run_prepare(out, self.doc_root, self.text_root, "--quick", "--task", task_file)
        self.assertEqual(result.returncode, 0, result.stderr)
        config = read_json(os.path.join(out, "task", "config.json"))
        self.assertEqual(config["name"], "reviews")
        self.assertEqual(sorted(config["options"]), ["bad", "good", "meh"])
        train = read_jsonl(os.path.join(out, "task", "train_0.jsonl"))
        test = read_jsonl(os.path.join(out, "task", "test.jsonl"))
        self.assertEqual(len(train) + len(test), 45)
        self.assertFalse({r["text"] for r in train} & {r["text"] for r in test})
        pairs = read_jsonl(os.path.join(out, "task", "task_train.jsonl"))
        self.assertEqual(pairs[0]["prompt"],
                         config["instruction"] + "\n\n" + config["inference_prompt"].format(text=train[0]["text"]))

    def test_one_class_task_fails_with_exit_code_2(self):
        task_file = os.path.join(self.tmp.name, "one_class.jsonl")
        write(task_file, "".join(json.dumps({"text": f"text {i}", "label": "only"}) + "\n" for i in range(40)))
        result = run_prepare(os.path.join(self.tmp.name, "one"), self.doc_root, self.text_root, "--quick",
                             "--task", task_file)
        self.assertEqual(result.returncode, 2)
        self.assertIn("1 class(es)", result.stderr)

    def test_malformed_task_line_is_named(self):
        task_file = os.path.join(self.tmp.name, "bad.jsonl")
        write(task_file, json.dumps({"text": "a", "label": "x"}) + "\n" + json.dumps({"text": "b"}) + "\n")
        result = run_prepare(os.path.join(self.tmp.name, "bad"), self.doc_root, self.text_root, "--task", task_file)
        self.assertEqual(result.returncode, 2)
        self.assertIn("bad.jsonl:2:", result.stderr)


class LicenceNameTest(unittest.TestCase):
    def test_spellings_share_a_class(self):
        cases = {"GPL-2.0+": "GPL-2+", "GPLv2+": "GPL-2+", "GPL-2+": "GPL-2+", "GPL-2.0-or-later": "GPL-2+",
                 "GPL-2": "GPL-2", "GPL-2.0-only": "GPL-2", "LGPL-2.1+": "LGPL-2.1+", "LGPL-2.0+": "LGPL-2+",
                 "BSD-3-Clause": "BSD-3-clause", "Expat": "MIT", "MIT/X11": "MIT", "Apache-2": "Apache-2.0",
                 "zlib": "Zlib", "Public-Domain": "public-domain", "CC0": "CC0-1.0", "Unicode": "Unicode"}
        for name, expected in cases.items():
            self.assertEqual(licence_task.canonical_licence(name), expected, name)

    def test_combinations_are_none(self):
        for name in ("GPL-2+ or Artistic", "MIT and BSD-3-clause", "GPL-2, LGPL-2", "LGPL-2.1+/GPL-2+"):
            self.assertIsNone(licence_task.canonical_licence(name), name)

    def test_excerpt_cuts_at_a_word(self):
        text = licence_task.licence_excerpt("word " * 100)
        self.assertLessEqual(len(text), licence_task.TEXT_CHARS)
        self.assertTrue(text.endswith("word"))


if __name__ == "__main__":
    unittest.main()
