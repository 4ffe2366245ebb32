// Training examples from JSONL files: `{"text": ...}` (loss on every token), `{"prompt": ..., "completion": ...}`
// (loss on the completion only) or `{"messages": [...]}` (rendered with the job's chat template, loss on the
// assistant turns only), tokenized and truncated to sequence_len; malformed lines are skipped and reported up to a
// limit; and the rehearsal examples (general text) mixed into training against forgetting.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kernels/kernels.h"
#include "model/tokenizer/tokenizer.h"
#include "worker/data/chat_template.h"

namespace ftd {

enum class RecordFormat { kAuto, kText, kPromptCompletion, kMessages };

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
  // End each text or prompt/completion record with the tokenizer's eos token, if it has one. Never for messages:
  // the rendered conversation already ends with the template's end-of-turn marker.
  bool append_eos = true;
  // What `messages` records are rendered with (job spec `chat_template`); a messages record without one fails.
  std::optional<ChatTemplate> chat_template;
  // The loaders' tolerance for malformed lines, as a fraction of a file's non-blank lines in [0, 1]: the load
  // fails when more than this fraction is malformed. 0 (the library default, strict) fails on any malformed line;
  // the job spec's default is 0.01 (TrainConfig::max_bad_line_fraction).
  double max_bad_line_fraction = 0;
};

// One JSONL record -> one example:
//   text:              Encode(text) (+ eos), every token labelled;
//   prompt/completion: Encode(prompt) followed by Encode(completion, no special tokens) (+ eos), prompt tokens
//                      labelled kIgnoreIndex;
//   messages:          [{"role", "content"}...] rendered by RenderChat (worker/data/chat_template.h) and tokenized
//                      once without special tokens (the text holds the BOS); no eos is appended. Only the tokens
//                      of trainable segments (assistant turns and their end marker) are labelled. The tokenizer has
//                      no offsets, so a segment boundary at byte b maps to the token index n(b) = the common prefix
//                      length of Encode(text[0:b]) and the whole text's tokens; tokens [n(start), n(end)) are
//                      labelled. A token that straddles a segment's start (Mistral's " " merged into "▁Paris") is
//                      therefore trainable, as HF's char_to_token on the answer's first character makes it; one
//                      straddling its end is not.
// Records longer than sequence_len are truncated. INVALID_ARGUMENT names what is wrong with the record
// ("expected a string \"text\" field", "unknown keys ...", "messages[2]: unknown role ..."), including no token to
// train on after truncation.
absl::StatusOr<Example> TokenizeRecord(absl::string_view json_line, const Tokenizer& tokenizer,
                                       const DatasetOptions& options);

// One JSONL file's examples and what was left out of them.
struct LoadedDataset {
  std::vector<Example> examples;  // In file order.
  int64_t records = 0;            // Non-blank lines.
  // Well-formed records with no token to learn after truncation to sequence_len (a lone token, a prompt that
  // fills the window): not errors, just nothing to train on.
  int64_t dropped = 0;
  // The malformed lines that were skipped, as "PATH:LINE: reason", in file order.
  std::vector<std::string> bad_lines;
};

// Every non-blank line of a JSONL file. A malformed line (bad JSON, a missing or ill-typed field, an unknown key or
// role, ...) is skipped and reported in `bad_lines`; when more than options.max_bad_line_fraction of the lines are
// malformed the load fails with INVALID_ARGUMENT: "PATH: 7 of 40 lines are malformed (17.5%), more than
// max_bad_line_fraction 0.05; first: PATH:3: not valid JSON". Also INVALID_ARGUMENT: a file with no record, and a
// messages record without options.chat_template ("chat_template: required because PATH:LINE ..."), which is the
// job's mistake rather than the line's. File errors as ReadFileToString gives them.
absl::StatusOr<LoadedDataset> LoadDataset(const std::string& path, const Tokenizer& tokenizer,
                                          const DatasetOptions& options);

// LoadDataset's examples alone (the skipped lines and drops are not reported): kept for callers that need no
// report; a training run should call LoadDataset and log what it left out.
absl::StatusOr<std::vector<Example>> LoadJsonlDataset(const std::string& path, const Tokenizer& tokenizer,
                                                      const DatasetOptions& options);

// Log lines for a load's bad lines: the first `max_listed` in full, then "... and N more malformed lines" when
// there are more. Empty when there is none.
std::vector<std::string> BadLineNotes(const std::vector<std::string>& bad_lines, size_t max_listed = 20);

// ---- Rehearsal (job spec `rehearsal: {path, ratio}`) ----------------------------------------------------------

// How many rehearsal examples join `task_examples` training examples so that they make up `ratio` of the mix:
// round(ratio / (1 - ratio) * task_examples) (std::llround: halves away from zero). INVALID_ARGUMENT for a ratio
// outside [0, 1) or a negative count.
absl::StatusOr<int64_t> RehearsalCount(double ratio, int64_t task_examples);

// The rehearsal set, every token labelled: `path` ending in .jsonl holds `{"text": ...}` records, each one example
// as a text record in LoadDataset (BOS, eos, truncated to options.sequence_len; malformed lines reported and
// limited by options.max_bad_line_fraction); any other file is plain text, tokenized whole (BOS, eos) and cut into
// consecutive options.sequence_len-token pieces as transformers' run_clm group_texts does, except that a last
// piece of 2 or more tokens is kept (a shorter one is counted as dropped). options.format and chat_template are
// not used. INVALID_ARGUMENT when no example has a token to learn.
absl::StatusOr<LoadedDataset> LoadRehearsalPool(const std::string& path, const Tokenizer& tokenizer,
                                                const DatasetOptions& options);

// `count` examples drawn from `pool` for a run seeded with `seed`: one seeded permutation of the pool (EpochOrder
// on its own stream, apart from the epoch orders and the validation split), taken in order and cycled when
// count > pool size, so every pool example is used floor(count / size) or that plus one times. The same
// (pool, count, seed) always gives the same examples on every platform. INVALID_ARGUMENT for count > 0 from an
// empty pool or a negative count.
absl::StatusOr<std::vector<Example>> DrawRehearsal(const std::vector<Example>& pool, int64_t count, uint64_t seed);

}  // namespace ftd
