// Scoring a token request with a model the way lm-evaluation-harness's HFLM._loglikelihood_tokens does: the
// summed log-probability of the continuation and whether greedy decoding would produce it; and the rolling
// loglikelihood of a whole text over disjoint windows (perplexity).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/loglikelihood_request.h"
#include "model/llama/llama_model.h"

namespace ftd {

struct LoglikelihoodResult {
  double logprob = 0;      // Sum of log p(continuation token | everything before it), nats.
  bool is_greedy = false;  // Every continuation token is the argmax at its position.
  int64_t tokens = 0;      // Continuation tokens scored.
};

// Feeds (context + continuation)[-(max_length + 1):][:-1] to the model, takes log_softmax (computed in double
// from the fp32 logits) at the last len(continuation) positions. INVALID_ARGUMENT for an empty continuation, one
// longer than max_length, or nothing to condition on (no context and a one-token continuation).
absl::StatusOr<LoglikelihoodResult> ScoreRequest(LlamaModel& model, const TokenRequest& request,
                                                 int64_t max_length);

// ScoreRequest for many requests, batched: longest first, as many rows per Forward as `max_batch_tokens` (0: max_length,
// so a batch never holds more tokens, activations or logits than one full-length request) allows, at most 64, each
// row right-padded to the batch's first (causal attention: the real positions never see the padding). Results in
// `requests` order; the same as one ScoreRequest each up to float summation order in the batched matmuls.
absl::StatusOr<std::vector<LoglikelihoodResult>> ScoreRequests(LlamaModel& model,
                                                               const std::vector<TokenRequest>& requests,
                                                               int64_t max_length, int64_t max_batch_tokens = 0);

// loglikelihood_rolling: RollingWindows(tokens, prefix, max_length) scored with ScoreRequests, summed in window
// order.
absl::StatusOr<LoglikelihoodResult> ScoreRolling(LlamaModel& model, const std::vector<int32_t>& tokens,
                                                 int32_t prefix_token, int64_t max_length);

}  // namespace ftd
