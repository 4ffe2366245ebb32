// A classification task's config, JSONL examples, prompts and metrics (see task.h).
#include "eval/suites/task.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/text_file.h"
#include "eval/suites/python_text.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

absl::Status LineError(absl::string_view file_name, int64_t line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file_name, ":", line, ": ", what));
}

absl::StatusOr<std::string> StringField(const nlohmann::json& j, const char* key, absl::string_view file_name) {
  if (!j.contains(key) || !j[key].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": missing string field '", key, "'"));
  }
  return j[key].get<std::string>();
}

absl::Status CheckFewshot(int num_fewshot, size_t train_size) {
  if (num_fewshot < 0 || static_cast<size_t>(num_fewshot) > train_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_fewshot ", num_fewshot, " is outside [0, ", train_size, "] (the training examples)"));
  }
  return absl::OkStatus();
}

constexpr char kGeneration[] = "generation";

}  // namespace

bool IsGenerationTask(const TaskConfig& config) { return config.task_type == kGeneration; }

absl::StatusOr<TaskConfig> ParseTaskConfig(absl::string_view text, absl::string_view file_name) {
  const nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": not a JSON object"));
  }
  TaskConfig config;
  for (auto [key, field] : {std::pair{"name", &config.name}, std::pair{"instruction", &config.instruction},
                            std::pair{"demonstration_prompt", &config.demonstration_prompt},
                            std::pair{"inference_prompt", &config.inference_prompt}}) {
    absl::StatusOr<std::string> value = StringField(j, key, file_name);
    if (!value.ok()) return value.status();
    *field = *std::move(value);
  }
  if (j.contains("task_type") && j["task_type"].is_string()) config.task_type = j["task_type"].get<std::string>();
  if (!config.task_type.empty() && config.task_type != "classification" && config.task_type != kGeneration) {
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": task_type \"", config.task_type,
                                                   "\" is not scored (want classification or generation)"));
  }
  if (IsGenerationTask(config)) {
    if (j.contains("options") && !(j["options"].is_array() && j["options"].empty())) {
      return absl::InvalidArgumentError(absl::StrCat(
          file_name, ": a generation task has no 'options' (its answer is each example's label)"));
    }
    return config;
  }
  if (!j.contains("options") || !j["options"].is_array() || j["options"].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": 'options' must be a non-empty list of strings"));
  }
  std::set<std::string> seen;
  for (const nlohmann::json& option : j["options"]) {
    if (!option.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(file_name, ": 'options' must be a non-empty list of strings"));
    }
    std::string value = option.get<std::string>();
    if (!seen.insert(value).second) {
      return absl::InvalidArgumentError(absl::StrCat(file_name, ": option '", value, "' appears twice"));
    }
    config.options.push_back(std::move(value));
  }
  return config;
}

absl::StatusOr<std::vector<TaskExample>> ParseTaskJsonl(absl::string_view text, absl::string_view file_name) {
  std::vector<TaskExample> examples;
  int64_t line = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line;
    const absl::string_view content = absl::StripAsciiWhitespace(raw);
    if (content.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(content.begin(), content.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return LineError(file_name, line, "not a JSON object");
    TaskExample example;
    example.line = line;
    for (const auto& [key, value] : j.items()) {
      if (value.is_string()) example.fields[key] = value.get<std::string>();
    }
    const auto label = example.fields.find("label");
    if (label == example.fields.end()) return LineError(file_name, line, "missing string field 'label'");
    example.label = label->second;
    examples.push_back(std::move(example));
  }
  return examples;
}

absl::StatusOr<std::string> FillTemplate(absl::string_view templ, const std::map<std::string, std::string>& fields) {
  std::string out;
  size_t i = 0;
  while (i < templ.size()) {
    const char c = templ[i];
    if (c == '{' && i + 1 < templ.size() && templ[i + 1] == '{') {
      out += '{';
      i += 2;
    } else if (c == '}' && i + 1 < templ.size() && templ[i + 1] == '}') {
      out += '}';
      i += 2;
    } else if (c == '{') {
      const size_t close = templ.find('}', i + 1);
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("template \"", templ, "\": unmatched '{'"));
      }
      const std::string name(templ.substr(i + 1, close - i - 1));
      const auto field = fields.find(name);
      if (field == fields.end()) {
        return absl::InvalidArgumentError(absl::StrCat("template \"", templ, "\": the example has no string field '",
                                                       name, "'"));
      }
      out += field->second;
      i = close + 1;
    } else if (c == '}') {
      return absl::InvalidArgumentError(absl::StrCat("template \"", templ, "\": single '}'"));
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

absl::StatusOr<std::string> TaskPrompt(const TaskConfig& config, const std::vector<TaskExample>& demonstrations,
                                       const TaskExample& item) {
  std::vector<std::string> parts;
  if (!config.instruction.empty()) parts.push_back(config.instruction);
  for (const TaskExample& demo : demonstrations) {
    absl::StatusOr<std::string> filled = FillTemplate(config.demonstration_prompt, demo.fields);
    if (!filled.ok()) return filled.status();
    parts.push_back(*std::move(filled));
  }
  absl::StatusOr<std::string> inference = FillTemplate(config.inference_prompt, item.fields);
  if (!inference.ok()) return inference.status();
  parts.push_back(*std::move(inference));
  return absl::StrJoin(parts, "\n\n");
}

absl::StatusOr<std::vector<MultipleChoiceItem>> BuildTaskItems(const TaskConfig& config,
                                                               const std::vector<TaskExample>& train,
                                                               const std::vector<TaskExample>& test, int num_fewshot,
                                                               absl::string_view test_name) {
  if (absl::Status fewshot = CheckFewshot(num_fewshot, train.size()); !fewshot.ok()) return fewshot;
  const std::vector<TaskExample> demonstrations(train.begin(), train.begin() + num_fewshot);
  std::vector<MultipleChoiceItem> items;
  items.reserve(test.size());
  for (const TaskExample& example : test) {
    const auto gold = std::find(config.options.begin(), config.options.end(), example.label);
    if (gold == config.options.end()) {
      return LineError(test_name, example.line,
                       absl::StrCat("label '", example.label, "' is not one of the options [",
                                    absl::StrJoin(config.options, ", "), "]"));
    }
    absl::StatusOr<std::string> prompt = TaskPrompt(config, demonstrations, example);
    if (!prompt.ok()) return LineError(test_name, example.line, prompt.status().message());
    items.push_back({*std::move(prompt), config.options, static_cast<int>(gold - config.options.begin())});
  }
  return items;
}

absl::StatusOr<std::vector<TaskGenerationItem>> BuildTaskGenerationItems(const TaskConfig& config,
                                                                         const std::vector<TaskExample>& train,
                                                                         const std::vector<TaskExample>& test,
                                                                         int num_fewshot, absl::string_view test_name) {
  if (absl::Status fewshot = CheckFewshot(num_fewshot, train.size()); !fewshot.ok()) return fewshot;
  const std::vector<TaskExample> demonstrations(train.begin(), train.begin() + num_fewshot);
  std::vector<TaskGenerationItem> items;
  items.reserve(test.size());
  for (const TaskExample& example : test) {
    absl::StatusOr<std::string> prompt = TaskPrompt(config, demonstrations, example);
    if (!prompt.ok()) return LineError(test_name, example.line, prompt.status().message());
    items.push_back({*std::move(prompt), example.label});
  }
  return items;
}

absl::StatusOr<LoadedTask> LoadTask(const std::string& dir, int num_fewshot) {
  const std::filesystem::path root(dir);
  const std::string config_path = (root / "config.json").string();
  const std::string test_path = (root / "test.jsonl").string();
  const std::string train_path = (root / "train_0.jsonl").string();
  absl::StatusOr<std::string> config_text = ReadTextFile(config_path);
  if (!config_text.ok()) return config_text.status();
  LoadedTask task;
  absl::StatusOr<TaskConfig> config = ParseTaskConfig(*config_text, config_path);
  if (!config.ok()) return config.status();
  task.config = *std::move(config);
  absl::StatusOr<std::string> test_text = ReadTextFile(test_path);
  if (!test_text.ok()) return test_text.status();
  absl::StatusOr<std::vector<TaskExample>> test = ParseTaskJsonl(*test_text, test_path);
  if (!test.ok()) return test.status();
  std::vector<TaskExample> train;
  if (num_fewshot > 0) {
    absl::StatusOr<std::string> train_text = ReadTextFile(train_path);
    if (!train_text.ok()) return train_text.status();
    absl::StatusOr<std::vector<TaskExample>> parsed = ParseTaskJsonl(*train_text, train_path);
    if (!parsed.ok()) return parsed.status();
    train = *std::move(parsed);
  }
  if (!IsGenerationTask(task.config)) {
    absl::StatusOr<std::vector<MultipleChoiceItem>> items =
        BuildTaskItems(task.config, train, *test, num_fewshot, test_path);
    if (!items.ok()) return items.status();
    task.items = *std::move(items);
  }
  absl::StatusOr<std::vector<TaskGenerationItem>> generations =
      BuildTaskGenerationItems(task.config, train, *test, num_fewshot, test_path);
  if (!generations.ok()) return generations.status();
  task.generations = *std::move(generations);
  return task;
}

std::vector<std::string> TaskAnswers(const LoadedTask& task) {
  if (!IsGenerationTask(task.config)) return task.config.options;
  std::vector<std::string> answers;
  for (const TaskGenerationItem& item : task.generations) answers.push_back(item.target);
  return answers;
}

int64_t TaskGenerationBudget(const std::vector<std::string>& answers,
                             const std::function<int64_t(absl::string_view)>& count_tokens) {
  int64_t longest = 0;
  for (const std::string& answer : answers) longest = std::max(longest, count_tokens(absl::StrCat(" ", answer)));
  return longest + kGenerationSlackTokens;
}

double TaskExactMatch(absl::string_view response, absl::string_view target) {
  const auto numpy_str = [](absl::string_view text) {
    while (!text.empty() && text.back() == '\0') text.remove_suffix(1);
    return text;
  };
  return numpy_str(PythonStrip(response)) == numpy_str(target) ? 1.0 : 0.0;
}

int ArgmaxChoice(const std::vector<double>& loglikelihoods) {
  int best = -1;
  for (size_t i = 0; i < loglikelihoods.size(); ++i) {
    if (std::isnan(loglikelihoods[i])) return static_cast<int>(i);
    if (best < 0 || loglikelihoods[i] > loglikelihoods[static_cast<size_t>(best)]) best = static_cast<int>(i);
  }
  return best;
}

absl::StatusOr<double> MacroF1(const std::vector<int>& gold, const std::vector<int>& predicted) {
  if (gold.size() != predicted.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("macro-F1: ", gold.size(), " gold labels but ", predicted.size(), " predictions"));
  }
  std::map<int, std::array<int64_t, 3>> counts;  // label -> {TP, FP, FN}
  for (size_t i = 0; i < gold.size(); ++i) {
    if (gold[i] == predicted[i]) {
      ++counts[gold[i]][0];
    } else {
      ++counts[predicted[i]][1];
      ++counts[gold[i]][2];
    }
  }
  if (counts.empty()) return 0.0;
  double sum = 0;
  for (const auto& [label, c] : counts) {
    sum += 2.0 * static_cast<double>(c[0]) / static_cast<double>(2 * c[0] + c[1] + c[2]);
  }
  return sum / static_cast<double>(counts.size());
}

std::optional<double> MacroF1BootstrapStderr(const std::vector<int>& gold, const std::vector<int>& predicted,
                                             int iterations, uint64_t seed) {
  if (gold.size() != predicted.size() || gold.size() < 2 || iterations < 2) return std::nullopt;
  std::mt19937_64 rng(seed);
  const unsigned __int128 n = gold.size();
  std::vector<double> values;
  values.reserve(static_cast<size_t>(iterations));
  std::vector<int> g(gold.size()), p(gold.size());
  for (int it = 0; it < iterations; ++it) {
    for (size_t i = 0; i < gold.size(); ++i) {
      const size_t draw = static_cast<size_t>((static_cast<unsigned __int128>(rng()) * n) >> 64);
      g[i] = gold[draw];
      p[i] = predicted[draw];
    }
    values.push_back(*MacroF1(g, p));  // Same lengths: cannot fail.
  }
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  return std::sqrt(ss / static_cast<double>(values.size() - 1));
}

}  // namespace ftd
