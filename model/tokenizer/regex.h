// A compiled PCRE2 regex (UTF + UCP, JIT when available) for the pre-tokenizers' and normalizers' patterns,
// plus the match-list form HF's Pattern trait produces (every byte covered, matches flagged).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ftd::tok {

// A piece of a string: [begin, end) bytes, and whether it is a match of the pattern.
struct MatchSpan {
  size_t begin;
  size_t end;
  bool is_match;
};

// Immutable after Create; FindAll is thread-safe (match data is per call).
class Regex {
 public:
  static absl::StatusOr<std::unique_ptr<Regex>> Create(absl::string_view pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches left to right as (begin, end) byte offsets; `text` must be valid UTF-8.
  // An empty match is reported and the search moves on by one character, as Oniguruma's find_iter does.
  std::vector<std::pair<size_t, size_t>> FindAll(absl::string_view text) const;

 private:
  explicit Regex(void* code) : code_(code) {}
  void* code_;  // pcre2_code_8*
};

// HF's Pattern::find_matches: the whole of `text` as alternating non-match / match spans. Empty text gives
// one empty non-match span.
std::vector<MatchSpan> MatchesToSpans(const std::vector<std::pair<size_t, size_t>>& matches,
                                      size_t text_size);

// Escapes `literal` so PCRE2 matches it verbatim.
std::string QuoteRegex(absl::string_view literal);

}  // namespace ftd::tok
