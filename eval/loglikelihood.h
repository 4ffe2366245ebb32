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
// from the fp32 logits) at the last len(continuation) positions. INVALID_ARGUMENT for an empty continuation or
// one longer than max_length.
absl::StatusOr<LoglikelihoodResult> ScoreRequest(LlamaModel& model, const TokenRequest& request,
                                                 int64_t max_length);

// loglikelihood_rolling: RollingWindows(tokens, prefix, max_length), each scored with ScoreRequest, summed.
absl::StatusOr<LoglikelihoodResult> ScoreRolling(LlamaModel& model, const std::vector<int32_t>& tokens,
                                                 int32_t prefix_token, int64_t max_length);

}  // namespace ftd
