// PCRE2 wrapper: the only file that includes pcre2.h.
#include "model/tokenizer/regex.h"

#include <pcre2.h>

#include "absl/strings/str_cat.h"
#include "model/tokenizer/unicode_util.h"

namespace ftd::tok {

absl::StatusOr<std::unique_ptr<Regex>> Regex::Create(absl::string_view pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return absl::InvalidArgumentError(absl::StrCat("bad regex \"", pattern, "\" at offset ", error_offset,
                                                   ": ", reinterpret_cast<const char*>(message)));
  }
  // JIT is an optimisation only: without it (unsupported platform) pcre2_match interprets.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return std::unique_ptr<Regex>(new Regex(code));
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

std::vector<std::pair<size_t, size_t>> Regex::FindAll(absl::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  auto* code = static_cast<pcre2_code*>(code_);
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos <= text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, data, nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
    const size_t begin = ov[0], end = ov[1];
    out.emplace_back(begin, end);
    if (end > begin) {
      pos = end;
    } else {
      if (end >= text.size()) break;
      int len = 0;
      DecodeUtf8(text, end, &len);
      pos = end + len;
    }
  }
  pcre2_match_data_free(data);
  return out;
}

std::vector<MatchSpan> MatchesToSpans(const std::vector<std::pair<size_t, size_t>>& matches,
                                      size_t text_size) {
  std::vector<MatchSpan> spans;
  if (text_size == 0) {
    spans.push_back({0, 0, false});
    return spans;
  }
  size_t prev = 0;
  for (const auto& [begin, end] : matches) {
    if (prev != begin) spans.push_back({prev, begin, false});
    spans.push_back({begin, end, true});
    prev = end;
  }
  if (prev != text_size) spans.push_back({prev, text_size, false});
  return spans;
}

std::string QuoteRegex(absl::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/#").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace ftd::tok
