// Scoring from loglikelihoods, as lm_eval 0.4.13 does (api/task.py process_results for multiple_choice,
// api/metrics.py): acc, acc_norm, their sample-std stderr, the size-weighted group score with
// pooled_sample_stderr, and word/byte perplexity and bits per byte, whose stderr (which lm-eval does not
// report) is ours: a seeded bootstrap over documents.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/suites/multiple_choice.h"
#include "eval/suites/perplexity.h"

namespace ftd {

// What the model says about one request (eval/loglikelihood.h's LoglikelihoodResult, minus the token count).
struct ChoiceLoglikelihood {
  double logprob = 0;
  bool is_greedy = false;
};

struct ItemScore {
  double acc = 0;       // 1 when argmax(ll) is gold.
  double acc_norm = 0;  // 1 when argmax(ll / len(choice)) is gold; len in code points, without the delimiter.
};

// INVALID_ARGUMENT when there is not one loglikelihood per choice. Ties go to the first index and a NaN
// wins, as np.argmax does.
absl::StatusOr<ItemScore> ScoreItem(const MultipleChoiceItem& item, const std::vector<ChoiceLoglikelihood>& lls);

struct MeanStderr {
  double mean = 0;
  std::optional<double> standard_error;  // lm-eval's "N/A" (absent) for fewer than 2 samples.
  int64_t n = 0;
};

// mean and lm-eval's mean_stderr: sample std (n-1) / sqrt(n). Empty input: mean 0, n 0, no stderr.
MeanStderr MeanWithStderr(const std::vector<double>& values);

struct MultipleChoiceScores {
  MeanStderr acc;
  MeanStderr acc_norm;
};

// A task's scores; lls[i] holds item i's loglikelihoods in choice order.
absl::StatusOr<MultipleChoiceScores> ScoreMultipleChoice(const std::vector<MultipleChoiceItem>& items,
                                                         const std::vector<std::vector<ChoiceLoglikelihood>>& lls);

// lm-eval's pooled_sample_stderr: sqrt(sum((n_i - 1) * se_i^2 * n_i) / (sum n_i - k) / sum n_i).
// INVALID_ARGUMENT for differing lengths, no subtasks, or sum n_i <= k.
absl::StatusOr<double> PooledSampleStderr(const std::vector<double>& stderrs, const std::vector<int64_t>& sizes);

// A group over its leaf subtasks with weight_by_size (MMLU: the micro-average over all items): mean =
// sum(mean_i * n_i) / sum(n_i); stderr pooled when every subtask has one, else absent ("N/A").
absl::StatusOr<MeanStderr> GroupScore(const std::vector<MeanStderr>& subtasks);

struct BootstrapOptions {
  int iterations = 1000;
  uint64_t seed = 1234;
};

struct DocumentLoglikelihood {
  double logprob = 0;  // loglikelihood_rolling of the document's text.
  int64_t words = 0;
  int64_t bytes = 0;
};

struct PerplexityScores {
  double word_perplexity = 0;  // exp(-sum ll / sum words)
  double byte_perplexity = 0;  // exp(-sum ll / sum bytes)
  double bits_per_byte = 0;    // -sum ll / sum bytes / ln 2
  // Bootstrap stderr of each: `iterations` resamples of the documents with replacement (index i of a draw =
  // floor(u * n / 2^64) for successive 64-bit outputs u of std::mt19937_64(seed), so every platform draws the
  // same), each metric recomputed on the resample from its sums, then the sample std (n-1) of the resampled
  // values, as lm-eval's bootstrap_stderr reports it. Absent for fewer than 2 documents or iterations.
  std::optional<double> word_perplexity_stderr;
  std::optional<double> byte_perplexity_stderr;
  std::optional<double> bits_per_byte_stderr;
};

// INVALID_ARGUMENT for no documents or a zero total word or byte count.
absl::StatusOr<PerplexityScores> ScorePerplexity(const std::vector<DocumentLoglikelihood>& docs,
                                                 const BootstrapOptions& options = {});

// The per-document inputs of ScorePerplexity from the documents and their rolling loglikelihoods (one per
// document, else INVALID_ARGUMENT).
absl::StatusOr<std::vector<DocumentLoglikelihood>> WithLoglikelihoods(const std::vector<PerplexityDocument>& docs,
                                                                      const std::vector<double>& logprobs);

}  // namespace ftd
