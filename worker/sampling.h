// Choosing the next token from a model's logits: greedy argmax, or sampling as transformers' generate does it
// (TemperatureLogitsWarper, then TopPLogitsWarper, then a draw) from a seeded std::mt19937_64. Host code only.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace ftd {

struct SamplingOptions {
  double temperature = 0.0;  // 0: greedy (argmax); > 0: sample from softmax(logits / temperature)
  double top_p = 1.0;        // (0, 1]: sample only from the smallest set of top tokens whose probability reaches it
};

// INVALID_ARGUMENT for a temperature that is negative or not finite, or a top_p outside (0, 1].
absl::Status ValidateSampling(const SamplingOptions& options);

// The index of the largest logit, the first one on ties (as torch.argmax). logits must not be empty.
int32_t Argmax(absl::Span<const float> logits);

// The distribution a draw uses (temperature > 0): softmax(logits / temperature) in double, then HF's top-p
// (sorted ascending, a token is removed when the cumulative probability up to and including it is <= 1 - top_p;
// the most likely token always stays), renormalised. Removed tokens get probability 0.
std::vector<double> SamplingProbabilities(absl::Span<const float> logits, const SamplingOptions& options);

// Argmax when temperature is 0, else one draw from SamplingProbabilities using rng. options must be valid.
int32_t SampleToken(absl::Span<const float> logits, const SamplingOptions& options, std::mt19937_64& rng);

}  // namespace ftd
