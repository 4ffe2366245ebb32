// MMLU loading and prompts (see mmlu.h). Strings checked against lm_eval 0.4.13's _default_template_yaml,
// its per-subject descriptions and api/task.py's fewshot_context/build_qa_turn.
#include "eval/suites/mmlu.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/text_file.h"
#include "eval/suites/csv.h"
#include "eval/suites/python_text.h"

namespace ftd {
namespace {

constexpr char kLetters[] = "ABCD";
constexpr char kFewshotDelimiter[] = "\n\n";  // lm-eval's default fewshot_delimiter.

std::string SubjectFileName(absl::string_view data_dir, absl::string_view subject, absl::string_view split) {
  return absl::StrCat(data_dir, "/", split, "/", subject, "_", split, ".csv");
}

}  // namespace

absl::StatusOr<std::vector<MmluQuestion>> ParseMmluCsv(absl::string_view text, absl::string_view file_name) {
  absl::StatusOr<std::vector<CsvRecord>> records = ParseCsv(text, file_name);
  if (!records.ok()) return records.status();
  std::vector<MmluQuestion> out;
  out.reserve(records->size());
  for (CsvRecord& r : *records) {
    if (r.fields.size() != 6) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_name, ":", r.line, ": expected 6 fields, found ", r.fields.size()));
    }
    const std::string& letter = r.fields[5];
    if (letter.size() != 1 || letter[0] < 'A' || letter[0] > 'D') {
      return absl::InvalidArgumentError(absl::StrCat(file_name, ":", r.line, ": answer '", letter, "' is not A-D"));
    }
    for (const std::string& f : r.fields) {
      if (!IsValidUtf8(f)) return absl::InvalidArgumentError(absl::StrCat(file_name, ":", r.line, ": invalid UTF-8"));
    }
    MmluQuestion q;
    q.question = std::move(r.fields[0]);
    for (int k = 0; k < 4; ++k) q.options[k] = std::move(r.fields[1 + k]);
    q.answer = letter[0] - 'A';
    out.push_back(std::move(q));
  }
  return out;
}

absl::StatusOr<std::vector<MmluQuestion>> LoadMmluSubject(absl::string_view data_dir, absl::string_view subject,
                                                          absl::string_view split) {
  const std::string path = SubjectFileName(data_dir, subject, split);
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  return ParseMmluCsv(*text, path);
}

absl::StatusOr<std::vector<std::string>> ListMmluSubjects(absl::string_view data_dir, absl::string_view split) {
  const std::filesystem::path dir = std::filesystem::path(std::string(data_dir)) / std::string(split);
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return absl::NotFoundError(absl::StrCat(dir.string(), ": ", ec.message()));
  const std::string suffix = absl::StrCat("_", split, ".csv");
  std::vector<std::string> subjects;
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (absl::EndsWith(name, suffix)) subjects.push_back(name.substr(0, name.size() - suffix.size()));
  }
  std::sort(subjects.begin(), subjects.end());
  return subjects;
}

std::string MmluDescription(absl::string_view subject) {
  return absl::StrCat("The following are multiple choice questions (with answers) about ",
                      absl::StrReplaceAll(subject, {{"_", " "}}), ".\n\n");
}

std::string MmluQuestionText(const MmluQuestion& q) {
  return absl::StrCat(PythonStrip(q.question), "\nA. ", q.options[0], "\nB. ", q.options[1], "\nC. ", q.options[2],
                      "\nD. ", q.options[3], "\nAnswer:");
}

absl::StatusOr<std::vector<MultipleChoiceItem>> BuildMmluItems(absl::string_view subject,
                                                               const std::vector<MmluQuestion>& dev,
                                                               const std::vector<MmluQuestion>& questions,
                                                               int num_fewshot) {
  if (num_fewshot < 0 || static_cast<size_t>(num_fewshot) > dev.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("mmlu ", subject, ": ", num_fewshot, "-shot needs that many dev questions, have ", dev.size()));
  }
  std::string prefix = MmluDescription(subject);
  for (int k = 0; k < num_fewshot; ++k) {
    absl::StrAppend(&prefix, MmluQuestionText(dev[k]), kTargetDelimiter, std::string(1, kLetters[dev[k].answer]),
                    kFewshotDelimiter);
  }
  std::vector<MultipleChoiceItem> items;
  items.reserve(questions.size());
  for (const MmluQuestion& q : questions) {
    items.push_back({absl::StrCat(prefix, MmluQuestionText(q)), {"A", "B", "C", "D"}, q.answer});
  }
  return items;
}

}  // namespace ftd
