// ScoreChoices: the loglikelihoods of several continuations of one context (a multiple-choice item's choices), with
// the context's forward pass run once: it is prefilled into a KV cache, and each continuation is decoded after it
// in turn, all its tokens in one call. Same results as ScoreRequest per choice (lm-eval's HFLM rule), up to float
// summation order.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/loglikelihood.h"
#include "eval/loglikelihood_request.h"
#include "model/llama/llama_model.h"

namespace ftd {

// One result per entry of `requests`, which must all have the same context. A request whose context + continuation does
// not fit in max_length + 1 tokens (HFLM then truncates from the left, so its context differs) is scored on its own
// (ScoreRequests, batched with the item's other such requests), as is every request of an empty context. INVALID_ARGUMENT when the contexts differ or a
// continuation is empty.
absl::StatusOr<std::vector<LoglikelihoodResult>> ScoreChoices(LlamaModel& model,
                                                              const std::vector<TokenRequest>& requests,
                                                              int64_t max_length);

}  // namespace ftd
