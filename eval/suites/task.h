// The job's own task, scored as multiple choice: a classification task in the ../shared/data/tasks layout
// (config.json with options and prompt templates; test.jsonl and train_K.jsonl, one JSON object a line with a
// string `label`, an `id` and the text fields the templates name) turned into MultipleChoiceItems, and the
// metrics: accuracy (lm-eval's mean_stderr) and macro-F1 as sklearn computes it. Exact match for
// generation-style tasks is not implemented (no such task today).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eval/suites/multiple_choice.h"

namespace ftd {

struct TaskConfig {
  std::string name;
  std::string task_type;             // "classification" (the only kind scored today).
  std::vector<std::string> options;  // The classes, in choice order.
  std::string instruction;
  std::string demonstration_prompt;  // e.g. "Review: {text}\nSentiment: {label}"
  std::string inference_prompt;      // e.g. "Review: {text}\nSentiment:"
};

// One JSONL line: its string fields by name (label and id among them).
struct TaskExample {
  std::map<std::string, std::string> fields;
  std::string label;  // fields["label"].
  int64_t line = 0;   // 1-based line in its file, for errors.
};

// config.json's text; `file_name` labels errors. INVALID_ARGUMENT for bad JSON, a missing or non-string
// name/instruction/demonstration_prompt/inference_prompt, missing or empty options, or a duplicate option.
absl::StatusOr<TaskConfig> ParseTaskConfig(absl::string_view text, absl::string_view file_name);

// A JSONL text; INVALID_ARGUMENT "file:line: ..." for a line that is not a JSON object or lacks a string
// `label`. Non-string fields are kept out of `fields` (a template naming one then fails). Blank lines skipped.
absl::StatusOr<std::vector<TaskExample>> ParseTaskJsonl(absl::string_view text, absl::string_view file_name);

// Python's str.format with named fields only, as the task templates are written: "{name}" becomes
// fields[name], "{{" and "}}" a literal brace. INVALID_ARGUMENT naming the field for one the example lacks, and
// for an unbalanced brace.
absl::StatusOr<std::string> FillTemplate(absl::string_view templ, const std::map<std::string, std::string>& fields);

// The prompt of one item, the parts joined by "\n\n":
//   instruction (left out when empty),
//   then each of the k demonstrations: demonstration_prompt filled with that example (its label too),
//   then inference_prompt filled with the item,
// e.g. k = 1: "Classify ...\n\nReview: good\nSentiment: positive\n\nReview: bad\nSentiment:". No other text
// is added or stripped; the choices are then " " + option (lm-eval's target delimiter).
absl::StatusOr<std::string> TaskPrompt(const TaskConfig& config, const std::vector<TaskExample>& demonstrations,
                                       const TaskExample& item);

// The items of a task: context = TaskPrompt with the first `num_fewshot` of `train` as demonstrations (the
// same for every item), choices = config.options, gold = the index of the item's label. INVALID_ARGUMENT for
// num_fewshot < 0 or > train.size(), and "file:line: label 'X' is not one of the options [...]" (`test_name`
// names the file) for a gold label outside the options.
absl::StatusOr<std::vector<MultipleChoiceItem>> BuildTaskItems(const TaskConfig& config,
                                                               const std::vector<TaskExample>& train,
                                                               const std::vector<TaskExample>& test, int num_fewshot,
                                                               absl::string_view test_name);

// A task directory loaded: <dir>/config.json, <dir>/test.jsonl and <dir>/train_0.jsonl (read only when
// num_fewshot > 0). NOT_FOUND for a missing file; the parse errors above.
struct LoadedTask {
  TaskConfig config;
  std::vector<MultipleChoiceItem> items;
};
absl::StatusOr<LoadedTask> LoadTask(const std::string& dir, int num_fewshot);

// np.argmax of one item's loglikelihoods: the first maximum, or the first NaN when there is one. -1 for none.
int ArgmaxChoice(const std::vector<double>& loglikelihoods);

// sklearn.metrics.f1_score(gold, predicted, average="macro", zero_division=0): the unweighted mean over the
// labels that occur in gold or predicted (sorted union; a class in neither is left out) of
// F1 = 2 TP / (2 TP + FP + FN), which is 0 for a class never predicted correctly (sklearn >= 1.3 computes it
// this way; with zero_division=0 older versions give the same numbers). Labels are class indices.
// INVALID_ARGUMENT for differing lengths; 0 for empty input.
absl::StatusOr<double> MacroF1(const std::vector<int>& gold, const std::vector<int>& predicted);

// The bootstrap stderr of MacroF1 (lm-eval bootstraps f1 too, since it is not a mean): `iterations` resamples of
// the items with replacement, drawn as scores.h's perplexity bootstrap draws (index = floor(u * n / 2^64) for
// successive outputs u of std::mt19937_64(seed)), MacroF1 of each, their sample std (n-1). Absent for fewer
// than 2 items or iterations.
std::optional<double> MacroF1BootstrapStderr(const std::vector<int>& gold, const std::vector<int>& predicted,
                                             int iterations = 1000, uint64_t seed = 1234);

}  // namespace ftd
