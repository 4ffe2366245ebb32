// ScoreChoices: prefill the shared context once, then decode each continuation after it in one call.
#include "eval/choice_scorer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/status_macros.h"

namespace ftd {
namespace {

// log p(target) and whether target is the argmax, from one row of logits (log_softmax in double, as ScoreRequest).
void AddToken(absl::Span<const float> row, int32_t target, LoglikelihoodResult& result) {
  const auto max_it = std::max_element(row.begin(), row.end());
  const float max_logit = *max_it;
  double sum = 0;
  for (float logit : row) sum += std::exp(static_cast<double>(logit) - max_logit);
  result.logprob += static_cast<double>(row[static_cast<size_t>(target)]) - max_logit - std::log(sum);
  if (max_it - row.begin() != target) result.is_greedy = false;
}

}  // namespace

absl::StatusOr<std::vector<LoglikelihoodResult>> ScoreChoices(LlamaModel& model,
                                                              const std::vector<TokenRequest>& requests,
                                                              int64_t max_length) {
  std::vector<LoglikelihoodResult> results(requests.size());
  if (requests.empty()) return results;
  const std::vector<int32_t>& context = requests.front().context;
  std::vector<size_t> shared;  // Requests that fit: scored from the cached context.
  std::vector<size_t> alone;   // The others: scored on their own, batched.
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].context != context) {
      return absl::InvalidArgumentError(absl::StrCat("score choices: request ", i, " has another context"));
    }
    if (requests[i].continuation.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("score choices: request ", i, " has an empty continuation"));
    }
    const int64_t whole = static_cast<int64_t>(context.size() + requests[i].continuation.size());
    (context.empty() || whole > max_length + 1 ? alone : shared).push_back(i);
  }
  if (!alone.empty()) {
    std::vector<TokenRequest> batch;
    for (size_t i : alone) batch.push_back(requests[i]);
    ASSIGN_OR_RETURN(const std::vector<LoglikelihoodResult> scored, ScoreRequests(model, batch, max_length));
    for (size_t k = 0; k < alone.size(); ++k) results[alone[k]] = scored[k];
  }
  if (shared.empty()) return results;

  int64_t longest = 0;
  for (size_t i : shared) longest = std::max<int64_t>(longest, static_cast<int64_t>(requests[i].continuation.size()));
  ASSIGN_OR_RETURN(LlamaKvCache cache,
                   model.NewKvCache(static_cast<int64_t>(context.size()) + std::max<int64_t>(longest - 1, 1)));
  // The context's last position predicts every continuation's first token.
  ASSIGN_OR_RETURN(const std::vector<float> after_context, model.Decode(&cache, context));
  const size_t vocab = static_cast<size_t>(model.config().vocab_size);
  for (size_t i : shared) {
    const std::vector<int32_t>& continuation = requests[i].continuation;
    LoglikelihoodResult& result = results[i];
    result.is_greedy = true;
    result.tokens = static_cast<int64_t>(continuation.size());
    AddToken(after_context, continuation[0], result);
    if (continuation.size() == 1) continue;
    // All but the last token in one call after the context: row j of the logits predicts continuation[j + 1].
    cache.Truncate(static_cast<int64_t>(context.size()));
    const std::vector<int32_t> inputs(continuation.begin(), continuation.end() - 1);
    ASSIGN_OR_RETURN(const std::vector<float> logits, model.Decode(&cache, inputs, LlamaDecodeLogits::kAll));
    for (size_t j = 0; j < inputs.size(); ++j) {
      AddToken(absl::MakeConstSpan(logits).subspan(j * vocab, vocab), continuation[j + 1], result);
    }
  }
  return results;
}

}  // namespace ftd
