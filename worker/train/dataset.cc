// JSONL records -> token ids and loss labels. nlohmann is used without exceptions (parse with
// allow_exceptions=false, types checked before every get).
#include "worker/train/dataset.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

using json = nlohmann::json;

absl::StatusOr<std::string> StringField(const json& record, const char* key) {
  auto it = record.find(key);
  if (it == record.end()) return absl::InvalidArgumentError(absl::StrCat("missing \"", key, "\""));
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" must be a string, got ", it->type_name()));
  }
  return it->get<std::string>();
}

absl::StatusOr<RecordFormat> DetectFormat(const json& record, RecordFormat requested) {
  const bool has_text = record.contains("text");
  const bool has_prompt = record.contains("prompt") || record.contains("completion");
  RecordFormat format = requested;
  if (format == RecordFormat::kAuto) {
    if (has_text && has_prompt) {
      return absl::InvalidArgumentError("has both \"text\" and \"prompt\"/\"completion\": which one to train on?");
    }
    if (!has_text && !has_prompt) {
      return absl::InvalidArgumentError("expected a \"text\" field or \"prompt\" and \"completion\" fields");
    }
    format = has_text ? RecordFormat::kText : RecordFormat::kPromptCompletion;
  }
  std::vector<std::string> unknown;
  for (const auto& [key, value] : record.items()) {
    const bool known = format == RecordFormat::kText ? key == "text" : (key == "prompt" || key == "completion");
    if (!known) unknown.push_back(absl::StrCat("\"", key, "\""));
  }
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown keys ", absl::StrJoin(unknown, ", "), " for a ",
                                                   format == RecordFormat::kText ? "text" : "prompt/completion",
                                                   " record"));
  }
  return format;
}

}  // namespace

absl::StatusOr<Example> TokenizeRecord(absl::string_view json_line, const Tokenizer& tokenizer,
                                       const DatasetOptions& options) {
  if (options.sequence_len < 2) {
    return absl::InvalidArgumentError(absl::StrCat("sequence_len: must be >= 2, got ", options.sequence_len));
  }
  const json record = json::parse(json_line.begin(), json_line.end(), nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!record.is_object()) return absl::InvalidArgumentError(absl::StrCat("expected an object, got ", record.type_name()));
  ASSIGN_OR_RETURN(RecordFormat format, DetectFormat(record, options.format));

  Example example;
  size_t prompt_len = 0;
  if (format == RecordFormat::kText) {
    ASSIGN_OR_RETURN(std::string text, StringField(record, "text"));
    example.input_ids = tokenizer.Encode(text, /*add_special_tokens=*/true);
  } else {
    ASSIGN_OR_RETURN(std::string prompt, StringField(record, "prompt"));
    ASSIGN_OR_RETURN(std::string completion, StringField(record, "completion"));
    example.input_ids = tokenizer.Encode(prompt, /*add_special_tokens=*/true);
    prompt_len = example.input_ids.size();
    std::vector<int32_t> completion_ids = tokenizer.Encode(completion, /*add_special_tokens=*/false);
    if (completion_ids.empty()) return absl::InvalidArgumentError("\"completion\" has no tokens: nothing to learn");
    example.input_ids.insert(example.input_ids.end(), completion_ids.begin(), completion_ids.end());
  }
  if (options.append_eos && tokenizer.config().eos_token.has_value()) {
    if (std::optional<int32_t> eos = tokenizer.TokenToId(*tokenizer.config().eos_token)) {
      example.input_ids.push_back(*eos);
    }
  }
  if (static_cast<int64_t>(example.input_ids.size()) > options.sequence_len) {
    example.input_ids.resize(static_cast<size_t>(options.sequence_len));
  }
  example.labels = example.input_ids;
  const size_t masked = std::min(prompt_len, example.labels.size());
  std::fill(example.labels.begin(), example.labels.begin() + static_cast<std::ptrdiff_t>(masked), kIgnoreIndex);
  // A target exists at positions 1..T-1 only (HF shifts): an example needs one labelled token after the first.
  const bool trainable = std::any_of(example.labels.begin() + 1, example.labels.end(),
                                     [](int32_t l) { return l != kIgnoreIndex; });
  if (!trainable) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no token to train on after truncation to sequence_len ", options.sequence_len,
        format == RecordFormat::kPromptCompletion ? " (the prompt fills it)" : " (the text has under 2 tokens)"));
  }
  return example;
}

absl::StatusOr<std::vector<Example>> LoadJsonlDataset(const std::string& path, const Tokenizer& tokenizer,
                                                      const DatasetOptions& options) {
  ASSIGN_OR_RETURN(std::string contents, ReadFileToString(path, uint64_t{64} << 30));
  std::vector<Example> examples;
  for (const NumberedLine& line : NonBlankLines(contents)) {
    absl::StatusOr<Example> example = TokenizeRecord(line.text, tokenizer, options);
    if (!example.ok()) {
      return absl::Status(example.status().code(),
                          absl::StrCat(path, ":", line.number, ": ", example.status().message()));
    }
    examples.push_back(*std::move(example));
  }
  if (examples.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no records"));
  return examples;
}

}  // namespace ftd
