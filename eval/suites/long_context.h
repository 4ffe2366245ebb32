// Long-context retention, RULER's niah_single style: a needle sentence "The special magic number for {key} is:
// {value}." put at a depth of a haystack (any text file) cut so the whole prompt has N tokens, then the question;
// the model's greedy answer is scored by RULER's string_match_all. This file holds the text side (needles, the
// haystack, the fitted prompt, the match); eval/battery.cc decodes with the model. No model dependency: token
// counts come from the caller's counter.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ftd {

struct Needle {
  std::string key;    // "adjective-noun", as RULER's wonderwords keys.
  std::string value;  // A 7-digit number, as RULER's niah values.
};

// The needles of `samples` trials from one seed: std::mt19937_64(seed), three draws per needle in order
// (adjective, noun, value), each draw u taken to floor(u * n / 2^64) over its n choices, so every platform gets
// the same needles: the adjective and noun from fixed 32-word lists, the value 1000000 + draw over 9000000. The
// same needles serve every (length, depth) cell, so the cells differ only in where and how far in the needle is.
std::vector<Needle> MakeNeedles(uint64_t seed, int samples);

// "The special magic number for {key} is: {value}."
std::string NeedleSentence(const Needle& needle);
// "What is the special magic number for {key} mentioned in the provided text? Answer: The special magic number
// for {key} is:"
std::string NeedleQuestion(const Needle& needle);

// The haystack as pieces: each a word (a run of non-whitespace) with the whitespace after it; whitespace before
// the first word is dropped, and the last piece gets a "\n" when the file does not end in whitespace, so the text
// can be repeated. INVALID_ARGUMENT naming `file_name` for a text without a word.
struct Haystack {
  std::vector<std::string> pieces;
};
absl::StatusOr<Haystack> SplitHaystack(absl::string_view text, absl::string_view file_name);

// The first `pieces` pieces (the haystack repeated from its start when it has fewer), ending at a line: when
// they do not end in "\n", trailing spaces and tabs are dropped and, unless that leaves a "\n" at the end, a "\n"
// added. "" for 0 pieces.
std::string HaystackText(const Haystack& haystack, int64_t pieces);

// Where the needle goes in `text` (HaystackText's): the line start (0, or just after a "\n"; the end of the
// text counts, as it ends in "\n") nearest depth * text.size() bytes, ties to the earlier. Depth 0 is the
// start, 1.0 the end. Depth is clamped to [0, 1].
size_t NeedleOffset(absl::string_view text, double depth);

// The prompt, exactly: text[0, offset) + NeedleSentence + "\n" + text[offset, end) + NeedleQuestion, with offset =
// NeedleOffset(text, depth). (text ends in "\n", so the question starts a line.) No instruction header: RULER's
// "Some special magic numbers are hidden ..." line is left out so short windows hold more haystack.
std::string NeedlePrompt(absl::string_view haystack_text, double depth, const Needle& needle);

// Tokens the model sees for a prompt (the battery: Encode with special tokens, i.e. with BOS).
using TokenCounter = std::function<int64_t(absl::string_view)>;

struct FittedPrompt {
  std::string prompt;
  int64_t tokens = 0;           // counter(prompt) <= length.
  int64_t haystack_pieces = 0;  // Pieces of haystack used.
  size_t needle_offset = 0;     // Byte offset of the needle sentence in `prompt`.
};

// The longest prompt, in haystack pieces, of at most `length` tokens: exponential then binary search over the
// number of pieces (token counts grow with the pieces), so it is short of `length` by less than a word's tokens
// (plus what moving the needle to another line boundary changes). INVALID_ARGUMENT when even the needle and
// question alone exceed `length`.
absl::StatusOr<FittedPrompt> FitNeedlePrompt(const Haystack& haystack, int64_t length, double depth,
                                             const Needle& needle, const TokenCounter& count_tokens);

// RULER's string_match_all for one prediction: the fraction of references found in it, both lowercased (ASCII).
double StringMatchAll(absl::string_view prediction, const std::vector<std::string>& references);

}  // namespace ftd
