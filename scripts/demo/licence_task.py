# The demo's legal-text task: name a licence from the start of its text. Examples come from the stand-alone
# License paragraphs of machine-readable (DEP-5) debian/copyright files under /usr/share/doc, or from a user's
# own JSONL of {"text", "label"}; both are deduplicated and split by a hash of the text into train and test.
"""Builds a classification task in the layout eval/suites/task.h reads."""

import glob
import hashlib
import json
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

TEXT_CHARS = 300  # The start of a licence shown to the model, cut at a word boundary.
MIN_TEXT_CHARS = 20  # Shorter bodies ("See above.") name no licence.
NUM_CLASSES = 10  # K: the most frequent classes kept ...
MIN_CLASS_TEXTS = 8  # M: ... among those with at least this many distinct texts.
TEST_BUCKETS = 4  # A text whose hash is 0 mod TEST_BUCKETS is a test example (~25%).
MIN_TEST_PER_CLASS = 2
MIN_CLASSES = 2
MIN_EXAMPLES = 30

_DEP5_FORMAT = re.compile(r"^Format:\s*https?://www\.debian\.org/doc/packaging-manuals/copyright-format/1\.0/?\s*$")

LICENCE_TEMPLATES = {
    "instruction": "Name the licence that this text comes from.",
    "demonstration_prompt": "Licence text: {text}\nLicence: {label}",
    "inference_prompt": "Licence text: {text}\nLicence:",
}
USER_TEMPLATES = {
    "instruction": "Classify the text.",
    "demonstration_prompt": "Text: {text}\nLabel: {label}",
    "inference_prompt": "Text: {text}\nLabel:",
}


class TaskError(Exception):
    """Input that cannot make a task (too few classes or examples, a malformed --task file)."""


@dataclass
class Example:
    text: str
    label: str
    key: int  # A hash of the text: orders examples and picks the test split.


def text_key(text):
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _key_order(example):
    return (example.key, example.text)


# ---- DEP-5 parsing ----

def is_dep5(text):
    first_line = text.split("\n", 1)[0]
    return bool(_DEP5_FORMAT.match(first_line))


def licence_paragraphs(text):
    """The stand-alone License paragraphs of a DEP-5 file as (name, body): the paragraph's first field is
    "License: NAME" and its continuation lines (starting with a space or tab; " ." is a blank line) are the body.
    Paragraphs without a body, and those whose first field is another (Files:, the header), are skipped."""
    result = []
    for paragraph in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        lines = paragraph.strip("\n").split("\n")
        match = re.match(r"^License:[ \t]*(.*)$", lines[0], flags=re.IGNORECASE)
        if not match or not match.group(1).strip():
            continue
        body = []
        for line in lines[1:]:
            if line[:1] not in (" ", "\t"):
                break  # The next field (Comment:, ...).
            line = line.strip()
            body.append("" if line == "." else line)
        if any(body):
            result.append((match.group(1).strip(), "\n".join(body)))
    return result


def licence_excerpt(body, limit=TEXT_CHARS):
    """The body with its whitespace collapsed to single spaces, cut to at most `limit` characters at a word
    boundary."""
    text = " ".join(body.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit + 1)
    return text[:cut] if cut > 0 else text[:limit]


# ---- Licence names ----

_GPL_FAMILY = re.compile(r"^(a|l)?gpl-?v?(\d+(?:\.\d+)*)?(\+|-or-later|-only)?$")
_BSD_CLAUSES = re.compile(r"^bsd-?(\d)(?:-?clauses?)?$")
_SIMPLE_NAMES = {
    "mit": "MIT", "expat": "MIT", "mit/x11": "MIT",
    "isc": "ISC",
    "zlib": "Zlib",
    "public-domain": "public-domain", "publicdomain": "public-domain", "pd": "public-domain",
    "cc0": "CC0-1.0", "cc0-1.0": "CC0-1.0",
    "apache-2": "Apache-2.0", "apache-2.0": "Apache-2.0", "apache-v2": "Apache-2.0", "apachev2": "Apache-2.0",
    "apache-v2.0": "Apache-2.0",
    "boost": "BSL-1.0", "boost-1.0": "BSL-1.0", "bsl-1.0": "BSL-1.0",
    "artistic": "Artistic",
}


def _version(version):
    """"2.0" -> "2", "2.1" -> "2.1", as Debian's short names spell versions."""
    while version.endswith(".0"):
        version = version[:-2]
    return version


def canonical_licence(name):
    """One spelling per licence (GPL-2.0+ / GPLv2+ / GPL-2+ -> "GPL-2+", Expat -> "MIT", BSD-3-Clause ->
    "BSD-3-clause"); None for a combination ("GPL-2+ or Artistic", "MIT and BSD", "A, B"). Names with an
    exception ("GPL-2+ with Autoconf exception") stay classes of their own; unknown names are kept as written."""
    name = " ".join(name.split())
    if re.search(r"\s(or|and)\s|,|\||/(?!x11$)", name, flags=re.IGNORECASE):
        return None
    key = re.sub(r"[\s_]+", "-", name.lower())
    if " with " in name.lower():
        base, rest = re.split(r"\s+with\s+", name, maxsplit=1, flags=re.IGNORECASE)
        base_name = canonical_licence(base)
        return None if base_name is None else base_name + " with " + rest
    match = _GPL_FAMILY.match(key)
    if match:
        family = (match.group(1) or "").upper() + "GPL"
        version = _version(match.group(2)) if match.group(2) else ""
        plus = match.group(3) in ("+", "-or-later")
        return family + ("-" + version if version else "") + ("+" if plus else "")
    match = _BSD_CLAUSES.match(key)
    if match:
        return "BSD-" + match.group(1) + "-clause"
    if key in _SIMPLE_NAMES:
        return _SIMPLE_NAMES[key]
    match = re.match(r"^mpl-?(\d+(?:\.\d+)?)$", key)
    if match:
        return "MPL-" + (match.group(1) if "." in match.group(1) else match.group(1) + ".0")
    return name


# ---- Examples from copyright files ----

@dataclass
class CopyrightScan:
    files: int = 0  # copyright files read.
    dep5_files: int = 0
    paragraphs: int = 0  # Stand-alone License paragraphs with a body.
    combinations: int = 0  # Of those, "X or Y" names dropped.


def copyright_examples(doc_root):
    """(text, label) pairs from every DEP-5 <doc_root>/*/copyright, one per License paragraph (duplicates
    included: packages of one source share their copyright file), and what the scan saw."""
    scan = CopyrightScan()
    pairs = []
    for path in sorted(glob.glob(os.path.join(doc_root, "*", "copyright"))):
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            continue  # A dangling link or an unreadable file is not licence text.
        scan.files += 1
        if not is_dep5(text):
            continue
        scan.dep5_files += 1
        for name, body in licence_paragraphs(text):
            scan.paragraphs += 1
            label = canonical_licence(name)
            if label is None:
                scan.combinations += 1
                continue
            excerpt = licence_excerpt(body)
            if len(excerpt) >= MIN_TEXT_CHARS:
                pairs.append((excerpt, label))
    return pairs, scan


def read_user_task(path):
    """(text, label) pairs from a JSONL file of {"text": str, "label": str, ...}; TaskError naming the line
    for anything else."""
    pairs = []
    try:
        with open(path, "r", encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise TaskError(f"{path}: cannot read: {e}") from e
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise TaskError(f"{path}:{number}: not JSON: {e}") from e
        if not isinstance(record, dict) or not isinstance(record.get("text"), str) or \
                not isinstance(record.get("label"), str):
            raise TaskError(f'{path}:{number}: expected an object with string "text" and "label"')
        label = record["label"]
        # The scorer compares a stripped generation with the label as is (eval/suites/task.h TaskExactMatch).
        if not label or label != label.strip() or "\n" in label:
            raise TaskError(f"{path}:{number}: label {label!r} is empty, has a line break or edge whitespace")
        pairs.append((record["text"], label))
    return pairs


# ---- From pairs to a split task ----

@dataclass
class Task:
    options: list  # Class names, most frequent first.
    train: list  # Examples, in key order.
    test: list
    templates: dict
    duplicates: int = 0  # Pairs whose text was already seen.
    conflicts: int = 0  # Distinct texts dropped because their labels tied.
    dropped_classes: dict = None  # Class -> distinct texts, for classes not kept.


def deduplicate(pairs):
    """One example per distinct text, labelled by the majority of its occurrences; texts whose top labels tie
    are dropped. Returns (examples, duplicates, conflicts)."""
    votes = defaultdict(Counter)
    for text, label in pairs:
        votes[text][label] += 1
    examples, conflicts = [], 0
    for text, counter in votes.items():
        ranked = counter.most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            conflicts += 1
            continue
        examples.append(Example(text=text, label=ranked[0][0], key=text_key(text)))
    examples.sort(key=_key_order)
    return examples, len(pairs) - len(votes), conflicts


def select_classes(examples, num_classes, min_texts):
    """The `num_classes` most frequent labels with at least `min_texts` examples, most frequent first (ties by
    name), and the counts of the others."""
    counts = Counter(example.label for example in examples)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = [label for label, count in ranked if count >= min_texts][:num_classes]
    dropped = {label: count for label, count in ranked if label not in kept}
    return kept, dropped


def split_examples(examples):
    """Test = the examples whose key is 0 mod TEST_BUCKETS; then per class the smallest-key train examples move
    to test until it has min(MIN_TEST_PER_CLASS, n - 1), and the largest-key test examples move back until
    train has one. Deterministic: the split depends on the texts only."""
    by_class = defaultdict(list)
    for example in examples:
        by_class[example.label].append(example)
    train, test = [], []
    for label in sorted(by_class):
        members = by_class[label]  # In key order.
        want_test = min(MIN_TEST_PER_CLASS, len(members) - 1)
        in_test = [example for example in members if example.key % TEST_BUCKETS == 0]
        in_train = [example for example in members if example.key % TEST_BUCKETS != 0]
        while len(in_test) < want_test:
            in_test.append(in_train.pop(0))
        while not in_train and len(in_test) > want_test:
            in_train.append(in_test.pop())
        train.extend(in_train)
        test.extend(in_test)
    return sorted(train, key=_key_order), sorted(test, key=_key_order)


def cap_examples(examples, cap, per_class_min):
    """At most `cap` examples (more only when the per-class minimums need them): first each class's
    `per_class_min` smallest-key examples, then the rest in key order."""
    if cap is None or len(examples) <= cap:
        return examples
    chosen, taken = set(), Counter()
    for index, example in enumerate(examples):
        if taken[example.label] < per_class_min:
            chosen.add(index)
            taken[example.label] += 1
    for index in range(len(examples)):
        if len(chosen) >= cap:
            break
        chosen.add(index)
    return [example for index, example in enumerate(examples) if index in chosen]


def build_task(pairs, templates, num_classes=None, min_texts=1, train_cap=None, test_cap=None):
    """A split task from (text, label) pairs. TaskError when fewer than MIN_CLASSES classes or MIN_EXAMPLES
    examples remain."""
    examples, duplicates, conflicts = deduplicate(pairs)
    options, dropped = select_classes(examples, num_classes or len(examples) + 1, min_texts)
    kept = [example for example in examples if example.label in options]
    if len(options) < MIN_CLASSES or len(kept) < MIN_EXAMPLES:
        raise TaskError(
            f"the task has {len(options)} class(es) and {len(kept)} distinct example(s) after deduplication; "
            f"at least {MIN_CLASSES} classes and {MIN_EXAMPLES} examples are needed")
    train, test = split_examples(kept)
    train = cap_examples(train, train_cap, 1)
    test = cap_examples(test, test_cap, MIN_TEST_PER_CLASS)
    return Task(options=options, train=train, test=test, templates=templates, duplicates=duplicates,
                conflicts=conflicts, dropped_classes=dropped)


def fill_template(template, fields):
    """Python's str.format with named fields, as eval/suites/task.h FillTemplate fills the templates."""
    return template.format_map(fields)


def task_prompt(templates, text):
    """TaskPrompt with no demonstrations: the instruction (when not empty), then the filled inference prompt,
    joined by a blank line."""
    parts = [templates["instruction"]] if templates["instruction"] else []
    parts.append(fill_template(templates["inference_prompt"], {"text": text}))
    return "\n\n".join(parts)
