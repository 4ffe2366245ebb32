// ScoreRequest / ScoreRolling: lm-eval's scoring rule on LlamaModel's logits.
#include "eval/loglikelihood.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ftd {

absl::StatusOr<LoglikelihoodResult> ScoreRequest(LlamaModel& model, const TokenRequest& request,
                                                 int64_t max_length) {
  const int64_t n_cont = static_cast<int64_t>(request.continuation.size());
  if (n_cont == 0) return absl::InvalidArgumentError("score: empty continuation");
  if (n_cont > max_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("score: continuation of ", n_cont, " tokens is longer than max_length ", max_length));
  }
  std::vector<int32_t> whole = request.context;
  whole.insert(whole.end(), request.continuation.begin(), request.continuation.end());
  // Keep the last max_length + 1 tokens, drop the last one: the model sees every token but the final target.
  const int64_t keep = std::min<int64_t>(static_cast<int64_t>(whole.size()), max_length + 1);
  std::vector<int32_t> inputs(whole.end() - keep, whole.end() - 1);
  const int64_t seq = static_cast<int64_t>(inputs.size());
  ASSIGN_OR_RETURN(std::vector<float> logits, model.Forward(inputs, 1, seq));
  const int64_t vocab = model.config().vocab_size;

  LoglikelihoodResult result;
  result.is_greedy = true;
  result.tokens = n_cont;
  for (int64_t i = 0; i < n_cont; ++i) {
    const int64_t pos = seq - n_cont + i;  // The position whose output predicts continuation[i].
    const float* row = logits.data() + pos * vocab;
    const float max_logit = *std::max_element(row, row + vocab);
    double sum = 0;
    for (int64_t j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(row[j]) - max_logit);
    const int32_t target = request.continuation[static_cast<size_t>(i)];
    result.logprob += static_cast<double>(row[target]) - max_logit - std::log(sum);
    if (std::max_element(row, row + vocab) - row != target) result.is_greedy = false;
  }
  return result;
}

absl::StatusOr<LoglikelihoodResult> ScoreRolling(LlamaModel& model, const std::vector<int32_t>& tokens,
                                                 int32_t prefix_token, int64_t max_length) {
  LoglikelihoodResult total;
  total.is_greedy = true;
  for (const TokenRequest& window : RollingWindows(tokens, prefix_token, max_length)) {
    ASSIGN_OR_RETURN(LoglikelihoodResult r, ScoreRequest(model, window, max_length));
    total.logprob += r.logprob;
    total.tokens += r.tokens;
    total.is_greedy = total.is_greedy && r.is_greedy;
  }
  return total;
}

}  // namespace ftd
