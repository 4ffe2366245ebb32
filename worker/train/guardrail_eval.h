// The two numbers the early-stop guardrail watches during training: the task validation loss (on the held-out
// split of the training data) and the perplexity of held-out general text. Each returns sums over a rank's share
// so that data-parallel ranks split the work and add up their parts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/llama/llama_model.h"
#include "model/tokenizer/tokenizer.h"
#include "worker/train/dataset.h"

namespace ftd {

// A summed negative log-likelihood and the tokens it covers: the mean is nll / tokens.
struct NllSum {
  double nll = 0;
  int64_t tokens = 0;
};

// The scored tokens of examples share, share + shares, ... of `examples` (as the training loss scores them: labels
// shifted, kIgnoreIndex skipped), run in micro-batches of up to `micro_batch_size`, without dropout. The task
// validation loss is the token-weighted mean over all shares.
absl::StatusOr<NllSum> TaskValidationNll(LlamaModel& model, const std::vector<Example>& examples,
                                         int64_t micro_batch_size, int32_t pad_id, int share, int shares);

// Held-out general text as lm-eval's loglikelihood_rolling scores it: each document's tokens (LmEvalEncode), the
// prefix token and the model window.
struct GeneralEvalSet {
  std::vector<std::vector<int32_t>> documents;
  int32_t prefix_token = 0;
  int64_t max_length = 0;
};

// `path` is JSONL with a string "text" per record (one document each) when it ends in .jsonl, else plain text (one
// document). Errors name path:line; INVALID_ARGUMENT for no document with a token.
absl::StatusOr<GeneralEvalSet> LoadGeneralEvalSet(const std::string& path, const Tokenizer& tokenizer,
                                                  int64_t max_length);

// Rolling-window NLL of documents share, share + shares, ...; perplexity = exp(nll / tokens) over all shares.
absl::StatusOr<NllSum> GeneralNll(LlamaModel& model, const GeneralEvalSet& set, int share, int shares);

}  // namespace ftd
