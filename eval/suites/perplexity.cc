// Perplexity documents (see perplexity.h): lm-eval's word count and WikiText detokenizer, and the page split.
#include "eval/suites/perplexity.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "eval/suites/python_text.h"

namespace ftd {
namespace {

// re.sub(r"OPEN\s*([^CLOSE]*?)\s*CLOSE", r"OPEN\1CLOSE", s) for single-character OPEN and CLOSE: each OPEN
// (left to right, not inside an earlier match) up to the next CLOSE loses the whitespace just inside it.
std::string TightenDelimited(absl::string_view s, char open, char close) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == open) {
      const size_t end = s.find(close, i + 1);
      if (end != absl::string_view::npos) {
        absl::StrAppend(&out, std::string(1, open), PythonStrip(s.substr(i + 1, end - i - 1)), std::string(1, close));
        i = end + 1;
        continue;
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

// re.sub(r"/' [0-9]/", r"/'[0-9]/", s): the replacement is the literal text "/'[0-9]/".
std::string ReplaceSlashQuoteDigit(absl::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (i + 5 <= s.size() && s.substr(i, 3) == "/' " && s[i + 3] >= '0' && s[i + 3] <= '9' && s[i + 4] == '/') {
      out += "/'[0-9]/";
      i += 5;
      continue;
    }
    out.push_back(s[i++]);
  }
  return out;
}

// " = Title = " with a single '=' on each side.
bool IsTopLevelHeading(absl::string_view line) {
  return line.size() >= 7 && absl::StartsWith(line, " = ") && absl::EndsWith(line, " = ") && line[3] != '=' &&
         line[line.size() - 4] != '=';
}

}  // namespace

int64_t LmEvalWordCount(absl::string_view text) {
  int64_t runs = 0;
  bool in_space = false;
  for (char32_t c : DecodeUtf8(text)) {
    const bool space = IsPythonSpace(c);
    if (space && !in_space) ++runs;
    in_space = space;
  }
  return runs + 1;
}

std::string WikiTextDetokenize(absl::string_view page) {
  // Each step is one line of lm_eval/tasks/wikitext/preprocess_wikitext.py, in its order; every replace is a
  // separate left-to-right pass, as str.replace is.
  std::string s = absl::StrReplaceAll(page, {{"s '", "s'"}});
  s = ReplaceSlashQuoteDigit(s);
  for (auto [from, to] : {std::pair{" @-@ ", "-"},
                          {" @,@ ", ","},
                          {" @.@ ", "."},
                          {" : ", ": "},
                          {" ; ", "; "},
                          {" . ", ". "},
                          {" ! ", "! "},
                          {" ? ", "? "},
                          {" , ", ", "}}) {
    s = absl::StrReplaceAll(s, {{from, to}});
  }
  for (auto [open, close] : {std::pair{'(', ')'}, {'[', ']'}, {'{', '}'}, {'"', '"'}, {'\'', '\''}}) {
    s = TightenDelimited(s, open, close);
  }
  for (auto [from, to] : {std::pair{"= = = =", "===="},
                          {"= = =", "==="},
                          {"= =", "=="},
                          {" \xc2\xb0 ", "\xc2\xb0"},
                          {" \n", "\n"},
                          {"\n ", "\n"},
                          {" N ", " 1 "},
                          {" 's", "'s"}}) {
    s = absl::StrReplaceAll(s, {{from, to}});
  }
  return s;
}

std::vector<std::string> SplitWikiTextPages(absl::string_view text) {
  std::vector<std::string> pages;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (absl::string_view line : lines) {
    line = absl::StripSuffix(line, "\r");
    if (pages.empty() || IsTopLevelHeading(line)) pages.emplace_back();
    absl::StrAppend(&pages.back(), line, "\n");
  }
  return pages;
}

std::vector<PerplexityDocument> WikiTextDocuments(absl::string_view raw_text) {
  std::vector<PerplexityDocument> docs;
  for (const std::string& page : SplitWikiTextPages(raw_text)) {
    docs.push_back({WikiTextDetokenize(page), LmEvalWordCount(page), static_cast<int64_t>(page.size())});
  }
  return docs;
}

PerplexityDocument PlainTextDocument(std::string text) {
  const int64_t words = LmEvalWordCount(text), bytes = static_cast<int64_t>(text.size());
  return {std::move(text), words, bytes};
}

}  // namespace ftd
