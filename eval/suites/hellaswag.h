// HellaSwag posed as lm_eval 0.4.13's tasks/hellaswag does (utils.process_docs): query =
// preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()), choices = preprocess(ending), from the
// original JSONL; and from llama.cpp's 6-line text form, which has lost the ctx_a/ctx_b split.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eval/suites/multiple_choice.h"

namespace ftd {

// lm-eval's hellaswag preprocess: strip(); " [title]" -> ". "; delete every re `\[.*?\]` match (a '[' up to the
// next ']' on the same line); "  " -> " " (one pass, as str.replace).
std::string HellaSwagPreprocess(absl::string_view text);

struct HellaSwagDoc {
  std::string activity_label;
  std::string ctx_a;
  std::string ctx_b;
  std::vector<std::string> endings;
  int label = 0;
};

// The lm-eval item of one original document.
MultipleChoiceItem HellaSwagItem(const HellaSwagDoc& doc);

// The original rowanz/hellaswag JSONL (one document per line; label as number or digit string).
// INVALID_ARGUMENT naming file:line for bad JSON, a missing field, a label outside the endings.
absl::StatusOr<std::vector<HellaSwagDoc>> ParseHellaSwagJsonl(absl::string_view text, absl::string_view file_name);
absl::StatusOr<std::vector<MultipleChoiceItem>> LoadHellaSwagJsonl(const std::string& path);

// llama.cpp's text form, already decompressed (the .bz2 in ../shared/data is left to the caller): 6 lines per
// item — "activity_label: ctx_a ctx_b", gold index 0-3, four endings. The context carries ctx_b uncapitalized
// and without its boundary, so query = preprocess(context) differs from lm-eval's wherever ctx_b starts
// lower-case (most items: "... on a roof. he" vs lm-eval's "... on a roof. He"). Choices are exact.
absl::StatusOr<std::vector<MultipleChoiceItem>> ParseHellaSwagText(absl::string_view text, absl::string_view file_name);
absl::StatusOr<std::vector<MultipleChoiceItem>> LoadHellaSwagText(const std::string& path);

}  // namespace ftd
