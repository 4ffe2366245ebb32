// PIQA posed as lm_eval 0.4.13's tasks/piqa/piqa.yaml does: context "Question: {goal}\nAnswer:", choices
// [sol1, sol2], gold = label; read from the original layout (valid.jsonl + valid-labels.lst, one label a line).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eval/suites/multiple_choice.h"

namespace ftd {

struct PiqaDoc {
  std::string goal;
  std::string sol1;
  std::string sol2;
  int label = 0;  // 0: sol1, 1: sol2.
};

MultipleChoiceItem PiqaItem(const PiqaDoc& doc);

// INVALID_ARGUMENT naming file:line for bad JSON, a missing field, a label other than 0/1, or differing line
// counts between the two files.
absl::StatusOr<std::vector<PiqaDoc>> ParsePiqa(absl::string_view jsonl, absl::string_view labels,
                                               absl::string_view jsonl_name, absl::string_view labels_name);
absl::StatusOr<std::vector<MultipleChoiceItem>> LoadPiqa(const std::string& jsonl_path, const std::string& labels_path);

}  // namespace ftd
