// The job's own task: a task in the ../shared/data/tasks layout (config.json with options and prompt templates;
// test.jsonl and train_K.jsonl, one JSON object a line with a string `label`, an `id` and the text fields the
// templates name). A classification task is scored as multiple choice (MultipleChoiceItems; accuracy with
// lm-eval's mean_stderr, macro-F1 as sklearn computes it) and as a generation (exact_match, lm-eval's
// generate_until with until ["\n"]); a generation task (task_type "generation", no options) by exact_match only.
#pragma once

#include <cstdint>
#include <functional>
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
  // "classification" (also when config.json has none) or "generation": the answer is free text, the item's
  // `label`, generated after the prompt and scored by exact_match only; such a config has no options.
  std::string task_type;
  std::vector<std::string> options;  // The classes, in choice order; empty for a generation task.
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

bool IsGenerationTask(const TaskConfig& config);

// config.json's text; `file_name` labels errors. INVALID_ARGUMENT for bad JSON, a missing or non-string
// name/instruction/demonstration_prompt/inference_prompt, a task_type other than classification or generation,
// missing or empty options (classification), options given to a generation task, or a duplicate option.
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

// One item as a generation: the prompt (TaskPrompt, the same text as the multiple-choice context) and the gold
// answer, the example's label.
struct TaskGenerationItem {
  std::string prompt;
  std::string target;
};

// The items of a task for exact_match: prompts as BuildTaskItems builds its contexts, target = the label (any
// string; a classification task's labels are checked by BuildTaskItems). INVALID_ARGUMENT for num_fewshot outside
// [0, train.size()] and template errors, as BuildTaskItems.
absl::StatusOr<std::vector<TaskGenerationItem>> BuildTaskGenerationItems(const TaskConfig& config,
                                                                         const std::vector<TaskExample>& train,
                                                                         const std::vector<TaskExample>& test,
                                                                         int num_fewshot, absl::string_view test_name);

// A task directory loaded: <dir>/config.json, <dir>/test.jsonl and <dir>/train_0.jsonl (read only when
// num_fewshot > 0). NOT_FOUND for a missing file; the parse errors above.
struct LoadedTask {
  TaskConfig config;
  std::vector<MultipleChoiceItem> items;        // Classification only; empty for a generation task.
  std::vector<TaskGenerationItem> generations;  // Every task: one per test line, in file order.
};
absl::StatusOr<LoadedTask> LoadTask(const std::string& dir, int num_fewshot);

// exact_match's generation: lm-eval's generate_until with until ["\n"] (kTaskStopSequence; HFLM adds the EOS
// text) and max_gen_toks = TaskGenerationBudget, greedy (eval/greedy_decode.h GenerateUntil).
inline constexpr char kTaskStopSequence[] = "\n";
// Room past the longest answer for what a model may add before its "\n" and that the strip or the stop removes
// (a space token of its own, the newline itself): without it a right answer could be cut short by the budget.
inline constexpr int64_t kGenerationSlackTokens = 4;

// The answers the generation budget is sized for: a classification task's options, or a generation task's
// targets over every loaded item (LoadTask's: the whole test.jsonl, so --limit does not change the budget).
std::vector<std::string> TaskAnswers(const LoadedTask& task);

// The generation budget (lm-eval's max_gen_toks, written into the lm-eval task as is): the longest of
// " " + answer in tokens (count_tokens: without special tokens; the answer as it follows the prompt) plus
// kGenerationSlackTokens. kGenerationSlackTokens alone for no answers.
int64_t TaskGenerationBudget(const std::vector<std::string>& answers,
                             const std::function<int64_t(absl::string_view)>& count_tokens);

// lm-eval's exact_match for one item with the task's filter and options: the response (generate_until's text,
// already cut at the stop sequences) through the remove_whitespace filter (Python's str.strip(), Unicode
// whitespace), then compared with the target as exact_match_hf_evaluate does with ignore_case,
// ignore_punctuation and ignore_numbers false and no regexes_to_ignore: numpy string equality, under which
// trailing NUL characters do not count (numpy's str_ dtype drops them). 1 or 0. The target is not stripped, so a
// label with a "\n" in it or whitespace at either end can never match, in lm-eval as here.
double TaskExactMatch(absl::string_view response, absl::string_view target);

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
