// RunSuite: one benchmark suite of the battery run on a model: the suite's data loaded and turned into requests
// (eval/suites), scored with the model (ScoreChoices for multiple choice, ScoreRolling for perplexity) and reduced
// to lm-eval's metrics with their standard errors. What `ftd-worker eval` prints and what the service will report.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/llama/llama_model.h"
#include "model/tokenizer/tokenizer.h"

namespace ftd {

enum class SuiteKind { kMmlu, kHellaSwag, kPiqa, kPerplexity, kTask, kLongContext };

// "mmlu", "hellaswag", "piqa", "perplexity", "task", "long_context"; INVALID_ARGUMENT listing them otherwise.
absl::StatusOr<SuiteKind> ParseSuiteKind(absl::string_view name);
const char* SuiteName(SuiteKind kind);

struct SuiteSpec {
  SuiteKind kind = SuiteKind::kMmlu;
  // mmlu: the dataset's root (dev/, test/ of per-subject CSVs); hellaswag: the original JSONL or the decompressed
  // 6-line text form (by extension: .jsonl or anything else); piqa: valid.jsonl (labels: `labels`, default the
  // sibling valid-labels.lst); perplexity: a text file (a WikiText raw file, by its name containing "wikitext", is
  // split into pages and detokenized as lm-eval's wikitext task does; any other file is one document); task: a task
  // directory (config.json, test.jsonl, train_0.jsonl; eval/suites/task.h); long_context: any text file, the
  // haystack (eval/suites/long_context.h).
  std::string data;
  std::string labels;             // piqa only.
  std::string split = "test";     // mmlu only.
  std::vector<std::string> subjects;  // mmlu only; empty: every subject of the split.
  int num_fewshot = 0;            // mmlu: the first k dev items; task: the first k lines of train_0.jsonl.
  int64_t limit = 0;              // > 0: only the first `limit` items (per subject for mmlu; documents for perplexity).
  // long_context only. Prompt lengths in tokens (default 256, 512), each capped at the model window (max_length)
  // and duplicates after capping dropped; needle depths in [0, 1] (default 0, 0.25, 0.5, 0.75, 1); trials per
  // (length, depth) cell, the same `samples` needles (MakeNeedles(seed, samples)) in every cell.
  std::vector<int64_t> context_lengths;
  std::vector<double> depths;
  int samples = 10;
  uint64_t seed = 42;  // RULER's default random_seed.
};

struct SuiteMetric {
  // lm-eval's: "acc", "acc_norm", "word_perplexity", ...; task reports "acc", "macro_f1" (bootstrap stderr) and
  // "exact_match" (mean_stderr) for a classification task, "exact_match" alone for a generation task;
  // long_context reports "acc@<length>" per length and "acc" over every trial (mean_stderr over trials).
  std::string name;
  double value = 0;
  std::optional<double> standard_error;  // Absent where lm-eval reports "N/A".
  bool higher_is_better = true;
};

struct SuiteResult {
  // "mmlu", "mmlu_anatomy", "hellaswag", ...; task: config.json's name ("sst2"); long_context: "long_context", its
  // subtasks one per (length, depth) cell, "long_context@256/depth=0.25".
  std::string name;
  int64_t items = 0;      // Items (documents for perplexity) scored.
  std::vector<SuiteMetric> metrics;
  std::vector<SuiteResult> subtasks;  // mmlu: one per subject (the parent is their micro-average).
};

struct SuiteRunOptions {
  int64_t max_length = 0;  // Model window in tokens; 0: the config's max_position_embeddings (HFLM's default).
  // Called after each item (or document) with (done, total); may be empty.
  std::function<void(int64_t done, int64_t total)> progress;
};

// NOT_FOUND / INVALID_ARGUMENT naming the file and line for unreadable or malformed data; errors of the model.
absl::StatusOr<SuiteResult> RunSuite(LlamaModel& model, const Tokenizer& tokenizer, const SuiteSpec& spec,
                                     const SuiteRunOptions& options = {});

}  // namespace ftd
