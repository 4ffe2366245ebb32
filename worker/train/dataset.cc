// JSONL records -> token ids and loss labels, the bad-line policy of the loaders, and the rehearsal draw. nlohmann
// is used without exceptions (parse with allow_exceptions=false, types checked before every get).
#include "worker/train/dataset.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "nlohmann/json.hpp"
#include "worker/train/batching.h"

namespace ftd {
namespace {

using json = nlohmann::json;

// Why a record gave no example. The loader skips kMalformed lines (up to the limit), counts kNothingToLearn ones
// as dropped, and fails on kNeedsChatTemplate: that is the job's mistake, not the line's.
enum class RecordIssue { kNone, kMalformed, kNothingToLearn, kNeedsChatTemplate };

absl::StatusOr<std::string> StringField(const json& record, const char* key, absl::string_view where = "") {
  auto it = record.find(key);
  if (it == record.end()) return absl::InvalidArgumentError(absl::StrCat(where, "missing \"", key, "\""));
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "\"", key, "\" must be a string, got ", it->type_name()));
  }
  return it->get<std::string>();
}

absl::string_view FormatName(RecordFormat format) {
  switch (format) {
    case RecordFormat::kText:
      return "text";
    case RecordFormat::kPromptCompletion:
      return "prompt/completion";
    case RecordFormat::kMessages:
      return "messages";
    case RecordFormat::kAuto:
      break;
  }
  return "auto";
}

bool IsKnownKey(RecordFormat format, const std::string& key) {
  switch (format) {
    case RecordFormat::kText:
      return key == "text";
    case RecordFormat::kPromptCompletion:
      return key == "prompt" || key == "completion";
    case RecordFormat::kMessages:
      return key == "messages";
    case RecordFormat::kAuto:
      break;
  }
  return false;
}

absl::StatusOr<RecordFormat> DetectFormat(const json& record, RecordFormat requested) {
  RecordFormat format = requested;
  if (format == RecordFormat::kAuto) {
    std::vector<std::string> families;
    if (record.contains("text")) families.push_back("\"text\"");
    if (record.contains("prompt") || record.contains("completion")) families.push_back("\"prompt\"/\"completion\"");
    if (record.contains("messages")) families.push_back("\"messages\"");
    if (families.size() > 1) {
      const std::string last = families.back();
      families.pop_back();
      return absl::InvalidArgumentError(absl::StrCat("has ", families.size() == 1 ? "both " : "",
                                                     absl::StrJoin(families, ", "), " and ", last,
                                                     ": which one to train on?"));
    }
    if (families.empty()) {
      return absl::InvalidArgumentError(
          "expected a \"text\" field, \"prompt\" and \"completion\" fields, or a \"messages\" list");
    }
    format = record.contains("text")       ? RecordFormat::kText
             : record.contains("messages") ? RecordFormat::kMessages
                                           : RecordFormat::kPromptCompletion;
  }
  std::vector<std::string> unknown;
  for (const auto& [key, value] : record.items()) {
    if (!IsKnownKey(format, key)) unknown.push_back(absl::StrCat("\"", key, "\""));
  }
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown keys ", absl::StrJoin(unknown, ", "), " for a ", FormatName(format), " record"));
  }
  return format;
}

// "messages": a non-empty list of {"role": string, "content": string}. Roles are checked by RenderChat.
absl::StatusOr<std::vector<ChatMessage>> ParseMessages(const json& record) {
  const json& list = *record.find("messages");  // Present: DetectFormat and Tokenize checked.
  if (!list.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("\"messages\" must be a list, got ", list.type_name()));
  }
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < list.size(); ++i) {
    const json& m = list[i];
    const std::string at = absl::StrCat("messages[", i, "]: ");
    if (!m.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(at, "expected an object {role, content}, got ", m.type_name()));
    }
    std::vector<std::string> unknown;
    for (const auto& [key, value] : m.items()) {
      if (key != "role" && key != "content") unknown.push_back(absl::StrCat("\"", key, "\""));
    }
    if (!unknown.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, "unknown keys ", absl::StrJoin(unknown, ", "), " (expected role, content)"));
    }
    ChatMessage message;
    ASSIGN_OR_RETURN(message.role, StringField(m, "role", at));
    ASSIGN_OR_RETURN(message.content, StringField(m, "content", at));
    messages.push_back(std::move(message));
  }
  return messages;
}

// Length of the common prefix of two token lists.
size_t CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// A conversation rendered, tokenized once, and labelled on its trainable segments (see TokenizeRecord).
absl::StatusOr<Example> TokenizeMessages(const json& record, const ChatTemplate& chat_template,
                                         const Tokenizer& tokenizer, RecordIssue& issue) {
  ASSIGN_OR_RETURN(const std::vector<ChatMessage> messages, ParseMessages(record));
  ASSIGN_OR_RETURN(const std::vector<ChatSegment> segments, RenderChat(chat_template, messages));
  const std::string text = JoinChatSegments(segments);
  Example example;
  example.input_ids = tokenizer.Encode(text, /*add_special_tokens=*/false);
  example.labels.assign(example.input_ids.size(), kIgnoreIndex);
  // n(b): tokens of the whole text that Encode(text[0:b]) reproduces; the text's ends need no encoding.
  auto tokens_before = [&](size_t byte) -> size_t {
    if (byte == 0) return 0;
    if (byte >= text.size()) return example.input_ids.size();
    return CommonPrefix(tokenizer.Encode(absl::string_view(text).substr(0, byte), false), example.input_ids);
  };
  bool any_trainable = false;
  size_t start = 0;
  for (const ChatSegment& segment : segments) {
    const size_t end = start + segment.text.size();
    if (segment.trainable) {
      any_trainable = true;
      const size_t to = tokens_before(end);
      for (size_t t = tokens_before(start); t < to; ++t) example.labels[t] = example.input_ids[t];
    }
    start = end;
  }
  if (!any_trainable) {
    issue = RecordIssue::kMalformed;
    return absl::InvalidArgumentError("\"messages\" has no assistant message: nothing to learn");
  }
  return example;
}

absl::StatusOr<Example> Tokenize(absl::string_view json_line, const Tokenizer& tokenizer,
                                 const DatasetOptions& options, RecordIssue& issue) {
  issue = RecordIssue::kMalformed;
  if (options.sequence_len < 2) {
    return absl::InvalidArgumentError(absl::StrCat("sequence_len: must be >= 2, got ", options.sequence_len));
  }
  const json record = json::parse(json_line.begin(), json_line.end(), nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!record.is_object()) return absl::InvalidArgumentError(absl::StrCat("expected an object, got ", record.type_name()));
  ASSIGN_OR_RETURN(RecordFormat format, DetectFormat(record, options.format));

  Example example;
  size_t prompt_len = 0;
  if (format == RecordFormat::kMessages) {
    if (!record.contains("messages")) return absl::InvalidArgumentError("missing \"messages\"");
    if (!options.chat_template.has_value()) {
      issue = RecordIssue::kNeedsChatTemplate;
      return absl::InvalidArgumentError(absl::StrCat("chat_template: required for a \"messages\" record (one of ",
                                                     absl::StrJoin(ChatTemplateNames(), ", "), ")"));
    }
    ASSIGN_OR_RETURN(example, TokenizeMessages(record, *options.chat_template, tokenizer, issue));
  } else {
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
    example.labels = example.input_ids;
    const size_t masked = std::min(prompt_len, example.labels.size());
    std::fill(example.labels.begin(), example.labels.begin() + static_cast<std::ptrdiff_t>(masked), kIgnoreIndex);
  }
  if (static_cast<int64_t>(example.input_ids.size()) > options.sequence_len) {
    example.input_ids.resize(static_cast<size_t>(options.sequence_len));
    example.labels.resize(static_cast<size_t>(options.sequence_len));
  }
  // A target exists at positions 1..T-1 only (HF shifts): an example needs one labelled token after the first.
  const bool trainable = example.labels.size() > 1 &&
                         std::any_of(example.labels.begin() + 1, example.labels.end(),
                                     [](int32_t l) { return l != kIgnoreIndex; });
  if (!trainable) {
    issue = RecordIssue::kNothingToLearn;
    const absl::string_view why = format == RecordFormat::kPromptCompletion ? " (the prompt fills it)"
                                  : format == RecordFormat::kMessages
                                      ? " (the conversation before the first assistant answer fills it)"
                                      : " (the text has under 2 tokens)";
    return absl::InvalidArgumentError(
        absl::StrCat("no token to train on after truncation to sequence_len ", options.sequence_len, why));
  }
  issue = RecordIssue::kNone;
  return example;
}

// The bad-line limit: INVALID_ARGUMENT when more than max_fraction of `records` lines are malformed.
absl::Status CheckBadLines(const std::string& path, const LoadedDataset& loaded, double max_fraction) {
  const auto bad = static_cast<int64_t>(loaded.bad_lines.size());
  if (bad == 0 || static_cast<double>(bad) <= max_fraction * static_cast<double>(loaded.records)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path, ": ", bad, " of ", loaded.records, " lines are malformed (",
      absl::StrFormat("%.3g", 100.0 * static_cast<double>(bad) / static_cast<double>(loaded.records)),
      "%), more than max_bad_line_fraction ", max_fraction, "; first: ", loaded.bad_lines.front()));
}

absl::Status CheckFraction(double max_fraction) {
  if (max_fraction >= 0 && max_fraction <= 1) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("max_bad_line_fraction: must be in [0, 1], got ", max_fraction));
}

// Plain text as one document: Encode(text) + eos, cut into sequence_len-token pieces.
LoadedDataset CutPlainText(absl::string_view text, const Tokenizer& tokenizer, const DatasetOptions& options) {
  LoadedDataset pool;
  pool.records = 1;
  if (absl::StripAsciiWhitespace(text).empty()) return pool;  // BOS + eos alone is no text.
  std::vector<int32_t> ids = tokenizer.Encode(text, /*add_special_tokens=*/true);
  if (options.append_eos && tokenizer.config().eos_token.has_value()) {
    if (std::optional<int32_t> eos = tokenizer.TokenToId(*tokenizer.config().eos_token)) ids.push_back(*eos);
  }
  const auto piece = static_cast<size_t>(options.sequence_len);
  for (size_t begin = 0; begin < ids.size(); begin += piece) {
    const size_t end = std::min(ids.size(), begin + piece);
    if (end - begin < 2) {
      ++pool.dropped;  // One token scores nothing after HF's shift.
      continue;
    }
    Example e;
    e.input_ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(begin),
                       ids.begin() + static_cast<std::ptrdiff_t>(end));
    e.labels = e.input_ids;
    pool.examples.push_back(std::move(e));
  }
  return pool;
}

}  // namespace

absl::StatusOr<Example> TokenizeRecord(absl::string_view json_line, const Tokenizer& tokenizer,
                                       const DatasetOptions& options) {
  RecordIssue issue = RecordIssue::kNone;
  return Tokenize(json_line, tokenizer, options, issue);
}

absl::StatusOr<LoadedDataset> LoadDataset(const std::string& path, const Tokenizer& tokenizer,
                                          const DatasetOptions& options) {
  RETURN_IF_ERROR(CheckFraction(options.max_bad_line_fraction));
  if (options.sequence_len < 2) {
    return absl::InvalidArgumentError(absl::StrCat("sequence_len: must be >= 2, got ", options.sequence_len));
  }
  ASSIGN_OR_RETURN(std::string contents, ReadFileToString(path, uint64_t{64} << 30));
  LoadedDataset loaded;
  for (const NumberedLine& line : NonBlankLines(contents)) {
    ++loaded.records;
    RecordIssue issue = RecordIssue::kNone;
    absl::StatusOr<Example> example = Tokenize(line.text, tokenizer, options, issue);
    switch (issue) {
      case RecordIssue::kNone:
        loaded.examples.push_back(*std::move(example));
        break;
      case RecordIssue::kNothingToLearn:
        ++loaded.dropped;
        break;
      case RecordIssue::kMalformed:
        loaded.bad_lines.push_back(absl::StrCat(path, ":", line.number, ": ", example.status().message()));
        break;
      case RecordIssue::kNeedsChatTemplate:
        return absl::InvalidArgumentError(absl::StrCat("chat_template: required because ", path, ":", line.number,
                                                       " is a \"messages\" record (set one of ",
                                                       absl::StrJoin(ChatTemplateNames(), ", "), ")"));
    }
  }
  if (loaded.records == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": no records"));
  RETURN_IF_ERROR(CheckBadLines(path, loaded, options.max_bad_line_fraction));
  return loaded;
}

absl::StatusOr<std::vector<Example>> LoadJsonlDataset(const std::string& path, const Tokenizer& tokenizer,
                                                      const DatasetOptions& options) {
  ASSIGN_OR_RETURN(LoadedDataset loaded, LoadDataset(path, tokenizer, options));
  return std::move(loaded.examples);
}

std::vector<std::string> BadLineNotes(const std::vector<std::string>& bad_lines, size_t max_listed) {
  std::vector<std::string> notes(bad_lines.begin(), bad_lines.begin() + static_cast<std::ptrdiff_t>(
                                                                            std::min(max_listed, bad_lines.size())));
  if (bad_lines.size() > max_listed) {
    const size_t more = bad_lines.size() - max_listed;
    notes.push_back(absl::StrCat("... and ", more, " more malformed line", more == 1 ? "" : "s"));
  }
  return notes;
}

absl::StatusOr<int64_t> RehearsalCount(double ratio, int64_t task_examples) {
  if (!(ratio >= 0 && ratio < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("rehearsal.ratio: must be in [0, 1), got ", ratio));
  }
  if (task_examples < 0) {
    return absl::InvalidArgumentError(absl::StrCat("rehearsal: negative task example count ", task_examples));
  }
  return static_cast<int64_t>(std::llround(ratio / (1 - ratio) * static_cast<double>(task_examples)));
}

absl::StatusOr<LoadedDataset> LoadRehearsalPool(const std::string& path, const Tokenizer& tokenizer,
                                                const DatasetOptions& options) {
  if (options.sequence_len < 2) {
    return absl::InvalidArgumentError(absl::StrCat("sequence_len: must be >= 2, got ", options.sequence_len));
  }
  LoadedDataset pool;
  if (absl::EndsWith(path, ".jsonl")) {
    DatasetOptions text = options;
    text.format = RecordFormat::kText;
    text.chat_template.reset();
    ASSIGN_OR_RETURN(pool, LoadDataset(path, tokenizer, text));
  } else {
    ASSIGN_OR_RETURN(const std::string contents, ReadFileToString(path, uint64_t{64} << 30));
    pool = CutPlainText(contents, tokenizer, options);
  }
  if (pool.examples.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no rehearsal text with 2 tokens or more"));
  }
  return pool;
}

absl::StatusOr<std::vector<Example>> DrawRehearsal(const std::vector<Example>& pool, int64_t count, uint64_t seed) {
  if (count < 0) return absl::InvalidArgumentError(absl::StrCat("rehearsal: negative count ", count));
  if (count == 0) return std::vector<Example>();
  if (pool.empty()) return absl::InvalidArgumentError("rehearsal: no example to draw from");
  const auto size = static_cast<int64_t>(pool.size());
  const std::vector<int64_t> order = EpochOrder(size, seed ^ 0x72656865617273ULL, 0);  // "rehears"
  std::vector<Example> drawn;
  drawn.reserve(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) drawn.push_back(pool[static_cast<size_t>(order[static_cast<size_t>(k % size)])]);
  return drawn;
}

}  // namespace ftd
