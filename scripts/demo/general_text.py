# General English text for pretraining from Debian packages: fortunes (+ fortunes-min), jargon-text and
# debian-faq's plain-text FAQ, cleaned and cut into 1-2 KB chunks of whole paragraphs, then split by a hash of
# each chunk into train, held-out (perplexity, guardrail) and haystack (long_context) parts.
"""Reads, cleans and chunks the general text sources."""

import glob
import gzip
import hashlib
import os
import re
from dataclasses import dataclass, field

CHUNK_MIN_BYTES = 1024
CHUNK_MAX_BYTES = 2048
MAX_NON_ASCII_RATIO = 0.05
# A paragraph with fewer letters than this among its non-space characters is a table, a rule or ASCII art.
MIN_LETTER_RATIO = 0.5
# A run of at least this many consecutive paragraphs of at most TOC_MAX_WORDS words each is a table of
# contents or an index (the Jargon File opens with ~2,300 one-line entries).
TOC_MIN_RUN = 6
TOC_MAX_WORDS = 6

# Typographic characters with a plain ASCII spelling, so the byte-level model sees one form of each and the
# non-ASCII filter keeps the prose that uses them.
_ASCII_SPELLINGS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "--", "\u2015": "--", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u200b": "",
    "\u00ad": "", "\u2022": "*", "\u00b7": ".", "\u2192": "->", "\u00a9": "(c)", "\u2122": "(TM)",
    "\u00d7": "x", "\ufeff": "",
}
_TRANSLATION = str.maketrans(_ASCII_SPELLINGS)
# C0 controls except tab and newline, DEL, C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_HORIZONTAL_SPACE = re.compile(r"[ \t\f\v]+")
_BLANK_LINES = re.compile(r"\n[ \t]*\n")


@dataclass
class Source:
    """One package's files: what was read and what survived the cleaning."""
    name: str
    files: list = field(default_factory=list)
    raw_bytes: int = 0  # The decoded files, UTF-8.
    kept_bytes: int = 0  # The chunks made from them.
    chunks: int = 0


@dataclass
class Chunk:
    source: str
    text: str
    key: int  # Orders chunks and picks the held-out ones: a hash of the text, stable across machines.


def non_ascii_ratio(text):
    if not text:
        return 0.0
    return sum(1 for char in text if ord(char) > 127) / len(text)


def _clean(text):
    """Typographic characters spelled in ASCII, control characters dropped, line ends normalised."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text.translate(_TRANSLATION))


def _clean_lines(text):
    """Each line stripped and its inner runs of spaces and tabs collapsed; blank lines at either end dropped."""
    lines = [_HORIZONTAL_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


def _looks_like_prose(paragraph):
    visible = [char for char in paragraph if not char.isspace()]
    if not visible:
        return False
    letters = sum(1 for char in visible if char.isalpha())
    return letters / len(visible) >= MIN_LETTER_RATIO and non_ascii_ratio(paragraph) <= MAX_NON_ASCII_RATIO


def _drop_toc_runs(paragraphs):
    kept, run = [], []
    for paragraph in paragraphs + [None]:
        if paragraph is not None and len(paragraph.split()) <= TOC_MAX_WORDS:
            run.append(paragraph)
            continue
        if len(run) < TOC_MIN_RUN:
            kept.extend(run)
        run = []
        if paragraph is not None:
            kept.append(paragraph)
    return kept


def prose_paragraphs(text):
    """A wrapped plain-text document (the Jargon File, the FAQ) as paragraphs, each unwrapped onto one line."""
    paragraphs = []
    for block in _BLANK_LINES.split(_clean(text)):
        paragraph = " ".join(_clean_lines(block).split("\n")).strip()
        if paragraph and _looks_like_prose(paragraph):
            paragraphs.append(paragraph)
    return _drop_toc_runs(paragraphs)


def fortunes(text):
    """A fortune file's entries ("%" lines separate them), line breaks kept: many are verse or dialogue."""
    entries = []
    for entry in re.split(r"^%[ \t]*$", _clean(text), flags=re.MULTILINE):
        entry = _clean_lines(entry)
        entry = re.sub(r"\n{3,}", "\n\n", entry)
        if entry and _looks_like_prose(entry):
            entries.append(entry)
    return entries


def _split_long(unit, max_bytes):
    """A unit over max_bytes cut into pieces at line breaks, or at spaces for a single long line."""
    if len(unit.encode("utf-8")) <= max_bytes:
        return [unit]
    separator = "\n" if "\n" in unit else " "
    pieces, current = [], ""
    for part in unit.split(separator):
        candidate = part if not current else current + separator + part
        if current and len(candidate.encode("utf-8")) > max_bytes:
            pieces.append(current)
            current = part
        else:
            current = candidate
    if current:
        pieces.append(current)
    # A piece can still be over the limit (one huge word or line); cut it further the same way.
    result = []
    for piece in pieces:
        if len(piece.encode("utf-8")) > max_bytes and separator == "\n":
            result.extend(_split_long(piece.replace("\n", " "), max_bytes))
        else:
            result.append(piece)
    return result


def chunk_units(units, min_bytes=CHUNK_MIN_BYTES, max_bytes=CHUNK_MAX_BYTES):
    """Paragraphs joined by blank lines into chunks of min_bytes..max_bytes; a chunk closes once it reaches
    min_bytes, or early when the next paragraph would take it past max_bytes."""
    chunks, current, current_bytes = [], [], 0
    for unit in units:
        for piece in _split_long(unit, max_bytes):
            size = len(piece.encode("utf-8"))
            if current and current_bytes + 2 + size > max_bytes:
                chunks.append("\n\n".join(current))
                current, current_bytes = [], 0
            current_bytes += size + (2 if current else 0)
            current.append(piece)
            if current_bytes >= min_bytes:
                chunks.append("\n\n".join(current))
                current, current_bytes = [], 0
    if current:
        chunks.append("\n\n".join(current))
    return chunks


def _read_text(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def _fortune_files(text_root):
    """The top-level fortune files: no index files (.dat, the .u8 links), no subdirectories (off/ holds the
    offensive ones, other subdirectories other languages)."""
    directory = os.path.join(text_root, "games", "fortunes")
    if not os.path.isdir(directory):
        return []
    paths = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.endswith((".dat", ".u8")) or name.startswith(".") or os.path.islink(path):
            continue
        if os.path.isfile(path):
            paths.append(path)
    return paths


def _unique_real_paths(patterns):
    """The files the glob patterns match, each once (debian-faq.txt.gz is a link to debian-faq.en.txt.gz)."""
    seen, paths = set(), []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern, recursive=True)):
            real = os.path.realpath(path)
            if os.path.isfile(real) and real not in seen:
                seen.add(real)
                paths.append(real)
    return paths


def _jargon_files(doc_root, text_root):
    paths = _unique_real_paths([os.path.join(doc_root, "jargon-text", "*.txt"),
                                os.path.join(doc_root, "jargon-text", "*.txt.gz")])
    if not paths:
        paths = _unique_real_paths([os.path.join(text_root, "jargon*", "**", "*.txt"),
                                    os.path.join(text_root, "jargon*", "**", "*.txt.gz")])
    return paths[:1]


def _faq_files(doc_root):
    return _unique_real_paths([os.path.join(doc_root, "debian", "FAQ", "debian-faq.en.txt.gz"),
                               os.path.join(doc_root, "debian", "FAQ", "debian-faq.en.txt"),
                               os.path.join(doc_root, "debian", "FAQ", "debian-faq.txt.gz"),
                               os.path.join(doc_root, "debian", "FAQ", "debian-faq.txt")])[:1]


def chunk_key(source, text):
    digest = hashlib.sha256((source + "\0" + text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def read_sources(doc_root, text_root):
    """Every source's chunks, and what each source gave. Sources whose package is not installed give none."""
    plan = [
        ("fortunes", _fortune_files(text_root), fortunes),
        ("jargon-text", _jargon_files(doc_root, text_root), prose_paragraphs),
        ("debian-faq", _faq_files(doc_root), prose_paragraphs),
    ]
    sources, chunks = [], []
    for name, paths, to_units in plan:
        source = Source(name=name, files=list(paths))
        for path in paths:
            text = _read_text(path)
            source.raw_bytes += len(text.encode("utf-8"))
            for chunk in chunk_units(to_units(text)):
                if non_ascii_ratio(chunk) > MAX_NON_ASCII_RATIO:
                    continue
                chunks.append(Chunk(source=name, text=chunk, key=chunk_key(name, chunk)))
                source.kept_bytes += len(chunk.encode("utf-8"))
                source.chunks += 1
        sources.append(source)
    return sources, chunks


@dataclass
class GeneralSplit:
    train: list  # Chunks, in key order (a fixed shuffle across sources).
    heldout: list
    haystack: list


def split_chunks(chunks, heldout_bytes, haystack_bytes, train_bytes=None):
    """Chunks in key order: the first ones until heldout_bytes go to held-out, the next until haystack_bytes to
    the haystack, the rest (up to train_bytes when given) to train. A chunk is in exactly one part."""
    ordered = sorted(chunks, key=lambda chunk: (chunk.key, chunk.source, chunk.text))
    parts = {"heldout": [], "haystack": [], "train": []}
    sizes = {"heldout": 0, "haystack": 0, "train": 0}
    limits = {"heldout": heldout_bytes, "haystack": haystack_bytes, "train": train_bytes}
    for chunk in ordered:
        for part in ("heldout", "haystack", "train"):
            limit = limits[part]
            if limit is None or sizes[part] < limit:
                parts[part].append(chunk)
                sizes[part] += len(chunk.text.encode("utf-8"))
                break
    return GeneralSplit(train=parts["train"], heldout=parts["heldout"], haystack=parts["haystack"])
