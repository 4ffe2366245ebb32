// Training examples from JSONL files: `{"text": ...}` (loss on every token) or `{"prompt": ..., "completion":
// ...}` (loss on the completion only), tokenized and truncated to sequence_len. The minimal data path of the
// single-process trainer; packing, sharding, rehearsal and chat templates extend it later.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kernels/kernels.h"
#include "model/tokenizer/tokenizer.h"

namespace ftd {

enum class RecordFormat { kAuto, kText, kPromptCompletion };

struct Example {
  std::vector<int32_t> input_ids;  // (T,) T <= sequence_len.
  // (T,) the token to score at each position before HF's shift: input_ids[i], or kIgnoreIndex (-100, the
  // cross-entropy op's ignore index) where no loss is taken (prompt tokens). The model predicts labels[i + 1]
  // from position i, as HF's causal LM loss does.
  std::vector<int32_t> labels;
};

struct DatasetOptions {
  int64_t sequence_len = 2048;
  RecordFormat format = RecordFormat::kAuto;  // kAuto: decided per record by its keys.
  bool append_eos = true;                     // End each record with the tokenizer's eos token, if it has one.
};

// One JSONL record -> one example: text as Encode(text) (+ eos); prompt/completion as Encode(prompt) followed
// by Encode(completion, no special tokens) (+ eos), prompt tokens labelled kIgnoreIndex. Records longer than
// sequence_len are truncated. INVALID_ARGUMENT names what is wrong with the record ("expected a string
// \"text\" field", "unknown keys ...").
absl::StatusOr<Example> TokenizeRecord(absl::string_view json_line, const Tokenizer& tokenizer,
                                       const DatasetOptions& options);

// Every non-blank line of a JSONL file. A malformed line fails the load with "PATH:LINE: reason"; a file
// with no record is an error too.
absl::StatusOr<std::vector<Example>> LoadJsonlDataset(const std::string& path, const Tokenizer& tokenizer,
                                                      const DatasetOptions& options);

}  // namespace ftd
