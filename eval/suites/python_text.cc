// Python str semantics over UTF-8 (see python_text.h); the case data is generated from CPython itself.
#include "eval/suites/python_text.h"

#include <algorithm>
#include <iterator>

namespace ftd {
namespace {

struct CaseRun {
  char32_t first;
  char32_t last;
  int32_t stride;  // 1: every code point in [first, last]; 2: every other one.
  int32_t delta;   // Mapped code point = code point + delta.
};
struct CaseMulti {
  char32_t code_point;
  const char* utf8;  // The mapping is more than one code point.
};
struct CodePointRange {
  char32_t first;
  char32_t last;
};

#include "eval/suites/python_case_table.inc"

template <size_t N>
bool InRanges(const CodePointRange (&ranges)[N], char32_t c) {
  const CodePointRange* it = std::upper_bound(std::begin(ranges), std::end(ranges), c,
                                              [](char32_t value, const CodePointRange& r) { return value < r.first; });
  return it != std::begin(ranges) && c <= std::prev(it)->last;
}

// Appends the mapping of `c` under one of the two generated tables.
template <size_t R, size_t M>
void AppendMapped(const CaseRun (&runs)[R], const CaseMulti (&multi)[M], char32_t c, std::string* out) {
  const CaseMulti* m = std::lower_bound(std::begin(multi), std::end(multi), c,
                                        [](const CaseMulti& e, char32_t value) { return e.code_point < value; });
  if (m != std::end(multi) && m->code_point == c) {
    out->append(m->utf8);
    return;
  }
  const CaseRun* it = std::upper_bound(std::begin(runs), std::end(runs), c,
                                       [](char32_t value, const CaseRun& r) { return value < r.first; });
  if (it != std::begin(runs)) {
    const CaseRun& r = *std::prev(it);
    if (c <= r.last && (c - r.first) % static_cast<char32_t>(r.stride) == 0) {
      AppendUtf8(static_cast<char32_t>(static_cast<int64_t>(c) + r.delta), out);
      return;
    }
  }
  AppendUtf8(c, out);
}

bool IsCased(char32_t c) { return InRanges(kCasedRanges, c); }
bool IsCaseIgnorable(char32_t c) { return InRanges(kCaseIgnorableRanges, c); }

// Unicode's Final_Sigma condition at index i, as CPython's handle_capital_sigma checks it: a cased letter
// before (skipping case-ignorables) and none after.
bool IsFinalSigma(const std::vector<char32_t>& cps, size_t i) {
  size_t j = i;
  while (j > 0 && IsCaseIgnorable(cps[j - 1])) --j;
  if (j == 0 || !IsCased(cps[j - 1])) return false;
  size_t k = i + 1;
  while (k < cps.size() && IsCaseIgnorable(cps[k])) ++k;
  return k == cps.size() || !IsCased(cps[k]);
}

}  // namespace

std::vector<char32_t> DecodeUtf8(absl::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    int extra = b < 0x80 ? 0 : (b >> 5) == 0x6 ? 1 : (b >> 4) == 0xE ? 2 : (b >> 3) == 0x1E ? 3 : -1;
    char32_t cp = extra == 0 ? b : extra == 1 ? (b & 0x1F) : extra == 2 ? (b & 0x0F) : (b & 0x07);
    bool ok = extra >= 0 && i + extra < text.size();
    for (int k = 1; ok && k <= extra; ++k) {
      const unsigned char cont = static_cast<unsigned char>(text[i + k]);
      ok = (cont & 0xC0) == 0x80;
      cp = (cp << 6) | (cont & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (ok && (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += extra + 1;
  }
  return out;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

bool IsValidUtf8(absl::string_view text) {
  std::string round_trip;
  for (char32_t c : DecodeUtf8(text)) AppendUtf8(c, &round_trip);
  return round_trip == text;
}

int64_t PythonLength(absl::string_view text) {
  int64_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

bool IsPythonSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

absl::string_view PythonStrip(absl::string_view text) {
  // Decode from each end one code point at a time; whitespace is never part of an invalid sequence.
  size_t begin = 0, end = text.size();
  while (begin < end) {
    size_t len = 1;
    while (begin + len < end && (static_cast<unsigned char>(text[begin + len]) & 0xC0) == 0x80) ++len;
    const std::vector<char32_t> cp = DecodeUtf8(text.substr(begin, len));
    if (cp.size() != 1 || !IsPythonSpace(cp[0])) break;
    begin += len;
  }
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    const std::vector<char32_t> cp = DecodeUtf8(text.substr(start, end - start));
    if (cp.size() != 1 || !IsPythonSpace(cp[0])) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

std::string PythonCapitalize(absl::string_view text) {
  const std::vector<char32_t> cps = DecodeUtf8(text);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < cps.size(); ++i) {
    if (i == 0) {
      AppendMapped(kTitleRuns, kTitleMulti, cps[i], &out);
    } else if (cps[i] == 0x03A3) {
      AppendUtf8(IsFinalSigma(cps, i) ? 0x03C2 : 0x03C3, &out);
    } else {
      AppendMapped(kLowerRuns, kLowerMulti, cps[i], &out);
    }
  }
  return out;
}

}  // namespace ftd
