// Documents for perplexity over general text, counted as lm_eval 0.4.13's tasks/wikitext does: the text scored
// with loglikelihood_rolling is wikitext_detokenizer(page), while words and bytes are counted on the page
// *before* detokenization (preprocess_wikitext.process_results): words = len(re.split(r"\s+", page)),
// bytes = len(page.encode("utf-8")).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ftd {

struct PerplexityDocument {
  std::string text;   // What loglikelihood_rolling scores.
  int64_t words = 0;  // Denominator of word_perplexity.
  int64_t bytes = 0;  // Denominator of byte_perplexity and bits_per_byte.
};

// len(re.split(r"\s+", text)): one more than the number of maximal runs of Python whitespace, so a leading or
// trailing run counts an empty "word" and "" counts 1, as in lm-eval.
int64_t LmEvalWordCount(absl::string_view text);

// lm-eval's wikitext_detokenizer, rule for rule (including its literal-"[0-9]" replacement quirk).
std::string WikiTextDetokenize(absl::string_view page);

// Splits WikiText raw text into pages at top-level headings: a line " = Title = " with exactly one '=' on each
// side (" = = Section = = " does not split). A page is its heading line and the lines up to the next one,
// each ending in "\n"; CRs before line breaks are dropped (the ../shared/data copy has CRLF). Lines before
// the first heading form a page of their own. The ../shared/data copy has also lost its blank lines, so its
// counts are smaller than lm-eval's on EleutherAI/wikitext_document_level by those lines.
std::vector<std::string> SplitWikiTextPages(absl::string_view text);

// WikiText documents: text = WikiTextDetokenize(page), words and bytes of the page.
std::vector<PerplexityDocument> WikiTextDocuments(absl::string_view raw_text);

// Any other text as one document, scored as is (no detokenization), counted by the same rules.
PerplexityDocument PlainTextDocument(std::string text);

}  // namespace ftd
