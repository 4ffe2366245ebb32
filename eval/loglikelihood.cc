// ScoreRequest / ScoreRequests / ScoreRolling: lm-eval's scoring rule on LlamaModel's logits.
#include "eval/loglikelihood.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ftd {
namespace {

// Rows of one batched forward at most, whatever the token budget allows.
constexpr int64_t kMaxBatchRows = 64;

// What HFLM feeds the model for `request`: (context + continuation)[-(max_length + 1):][:-1].
absl::StatusOr<std::vector<int32_t>> ModelInputs(const TokenRequest& request, int64_t max_length) {
  const int64_t n_cont = static_cast<int64_t>(request.continuation.size());
  if (n_cont == 0) return absl::InvalidArgumentError("score: empty continuation");
  if (n_cont > max_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("score: continuation of ", n_cont, " tokens is longer than max_length ", max_length));
  }
  std::vector<int32_t> whole = request.context;
  whole.insert(whole.end(), request.continuation.begin(), request.continuation.end());
  if (whole.size() < 2) {
    return absl::InvalidArgumentError("score: nothing to condition on (an empty context and a one-token continuation)");
  }
  // Keep the last max_length + 1 tokens, drop the last one: the model sees every token but the final target.
  const int64_t keep = std::min<int64_t>(static_cast<int64_t>(whole.size()), max_length + 1);
  return std::vector<int32_t>(whole.end() - keep, whole.end() - 1);
}

// log_softmax (in double, from the fp32 logits) of each continuation token at the last len(continuation) of the
// `seq` positions whose logits start at `logits`, summed, and whether each is the argmax.
LoglikelihoodResult ReadContinuation(const float* logits, int64_t seq, int64_t vocab,
                                     const std::vector<int32_t>& continuation) {
  const int64_t n_cont = static_cast<int64_t>(continuation.size());
  LoglikelihoodResult result;
  result.is_greedy = true;
  result.tokens = n_cont;
  for (int64_t i = 0; i < n_cont; ++i) {
    const int64_t pos = seq - n_cont + i;  // The position whose output predicts continuation[i].
    const float* row = logits + pos * vocab;
    const float max_logit = *std::max_element(row, row + vocab);
    double sum = 0;
    for (int64_t j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(row[j]) - max_logit);
    const int32_t target = continuation[static_cast<size_t>(i)];
    result.logprob += static_cast<double>(row[target]) - max_logit - std::log(sum);
    if (std::max_element(row, row + vocab) - row != target) result.is_greedy = false;
  }
  return result;
}

}  // namespace

absl::StatusOr<LoglikelihoodResult> ScoreRequest(LlamaModel& model, const TokenRequest& request,
                                                 int64_t max_length) {
  ASSIGN_OR_RETURN(std::vector<LoglikelihoodResult> results, ScoreRequests(model, {request}, max_length));
  return results.front();
}

absl::StatusOr<std::vector<LoglikelihoodResult>> ScoreRequests(LlamaModel& model,
                                                               const std::vector<TokenRequest>& requests,
                                                               int64_t max_length, int64_t max_batch_tokens) {
  std::vector<std::vector<int32_t>> inputs;
  inputs.reserve(requests.size());
  for (const TokenRequest& request : requests) {
    ASSIGN_OR_RETURN(std::vector<int32_t> one, ModelInputs(request, max_length));
    inputs.push_back(std::move(one));
  }
  // Longest first (as HFLM orders them), so each batch's padding is what its first row sets.
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return inputs[a].size() > inputs[b].size(); });
  const int64_t budget = std::max<int64_t>(max_batch_tokens > 0 ? max_batch_tokens : max_length, 1);
  const int64_t vocab = model.config().vocab_size;
  std::vector<LoglikelihoodResult> results(requests.size());
  for (size_t begin = 0; begin < order.size();) {
    const int64_t seq = static_cast<int64_t>(inputs[order[begin]].size());
    const int64_t rows = std::clamp<int64_t>(budget / std::max<int64_t>(seq, 1), 1, kMaxBatchRows);
    const size_t end = std::min(order.size(), begin + static_cast<size_t>(rows));
    const int64_t batch = static_cast<int64_t>(end - begin);
    // Rows right-padded with their own last token: a causal model's outputs at the real positions never see it.
    std::vector<int32_t> packed;
    packed.reserve(static_cast<size_t>(batch * seq));
    for (size_t k = begin; k < end; ++k) {
      const std::vector<int32_t>& row = inputs[order[k]];
      packed.insert(packed.end(), row.begin(), row.end());
      packed.insert(packed.end(), static_cast<size_t>(seq) - row.size(), row.back());
    }
    ASSIGN_OR_RETURN(const std::vector<float> logits, model.Forward(packed, batch, seq));
    for (size_t k = begin; k < end; ++k) {
      const size_t i = order[k];
      const float* row = logits.data() + static_cast<int64_t>(k - begin) * seq * vocab;
      results[i] = ReadContinuation(row, static_cast<int64_t>(inputs[i].size()), vocab, requests[i].continuation);
    }
    begin = end;
  }
  return results;
}

absl::StatusOr<LoglikelihoodResult> ScoreRolling(LlamaModel& model, const std::vector<int32_t>& tokens,
                                                 int32_t prefix_token, int64_t max_length) {
  ASSIGN_OR_RETURN(const std::vector<LoglikelihoodResult> windows,
                   ScoreRequests(model, RollingWindows(tokens, prefix_token, max_length), max_length));
  LoglikelihoodResult total;
  total.is_greedy = true;
  for (const LoglikelihoodResult& r : windows) {  // In window order, as lm-eval sums them.
    total.logprob += r.logprob;
    total.tokens += r.tokens;
    total.is_greedy = total.is_greedy && r.is_greedy;
  }
  return total;
}

}  // namespace ftd
