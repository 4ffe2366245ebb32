// MMLU from the original release CSVs ({dev,val,test}/<subject>_<split>.csv: question, A, B, C, D, answer
// letter; no header), posed exactly as lm_eval 0.4.13's tasks/mmlu/default does: description header,
// "{question.strip()}\nA. ..\nB. ..\nC. ..\nD. ..\nAnswer:", choices "A".."D", few-shot = the first k dev items.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eval/suites/multiple_choice.h"

namespace ftd {

struct MmluQuestion {
  std::string question;
  std::array<std::string, 4> options;  // A, B, C, D.
  int answer = 0;                      // 0..3 for A..D.
};

// Parses one MMLU CSV text; `file_name` labels errors (file:line): a record without 6 fields, an answer that
// is not A-D, invalid UTF-8.
absl::StatusOr<std::vector<MmluQuestion>> ParseMmluCsv(absl::string_view text, absl::string_view file_name);

// Reads <data_dir>/<split>/<subject>_<split>.csv. NOT_FOUND when it is absent.
absl::StatusOr<std::vector<MmluQuestion>> LoadMmluSubject(absl::string_view data_dir, absl::string_view subject,
                                                          absl::string_view split);

// The subjects with a file in <data_dir>/<split>, sorted.
absl::StatusOr<std::vector<std::string>> ListMmluSubjects(absl::string_view data_dir, absl::string_view split);

// The task description: "The following are multiple choice questions (with answers) about {subject with
// '_' -> ' '}.\n\n".
std::string MmluDescription(absl::string_view subject);

// doc_to_text: "{question.strip()}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer:".
std::string MmluQuestionText(const MmluQuestion& question);

// The k-shot items of one subject: context = description + for each of the first k dev questions
// (doc_to_text + " " + letter + "\n\n") + doc_to_text(question); choices "A".."D". INVALID_ARGUMENT when k
// exceeds the dev questions (lm-eval's first_n sampler asserts the same).
absl::StatusOr<std::vector<MultipleChoiceItem>> BuildMmluItems(absl::string_view subject,
                                                               const std::vector<MmluQuestion>& dev,
                                                               const std::vector<MmluQuestion>& questions,
                                                               int num_fewshot);

}  // namespace ftd
