// Greedy and temperature/top-p sampling. The draw uses the generator's raw 64-bit output (53 bits as a double in
// [0, 1)), not a standard-library distribution, so a seed gives the same tokens with every C++ library.
#include "worker/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace ftd {

absl::Status ValidateSampling(const SamplingOptions& options) {
  if (!std::isfinite(options.temperature) || options.temperature < 0.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be a finite number >= 0 (0: greedy), got ", options.temperature));
  }
  if (!(options.top_p > 0.0 && options.top_p <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("top_p must be in (0, 1], got ", options.top_p));
  }
  return absl::OkStatus();
}

int32_t Argmax(absl::Span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<double> SamplingProbabilities(absl::Span<const float> logits, const SamplingOptions& options) {
  const size_t n = logits.size();
  std::vector<double> p(n);
  const double mx = *std::max_element(logits.begin(), logits.end()) / options.temperature;
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    p[i] = std::exp(logits[i] / options.temperature - mx);
    sum += p[i];
  }
  for (double& x : p) x /= sum;
  if (options.top_p >= 1.0) return p;  // HF adds no top-p warper then.

  std::vector<size_t> order(n);  // Most likely first; ties keep the lower id first.
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  double ascending = 0.0;  // Cumulative probability from the least likely token up to this one.
  double kept = 0.0;
  for (size_t r = n; r-- > 0;) {
    ascending += p[order[r]];
    if (r > 0 && ascending <= 1.0 - options.top_p) {
      p[order[r]] = 0.0;
    } else {
      kept += p[order[r]];
    }
  }
  for (double& x : p) x /= kept;
  return p;
}

int32_t SampleToken(absl::Span<const float> logits, const SamplingOptions& options, std::mt19937_64& rng) {
  if (options.temperature == 0.0) return Argmax(logits);
  const std::vector<double> p = SamplingProbabilities(logits, options);
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1)
  double cumulative = 0.0;
  int32_t last = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0.0) continue;
    cumulative += p[i];
    last = static_cast<int32_t>(i);
    if (u < cumulative) return last;
  }
  return last;  // u above a cumulative sum that rounding left just under 1.
}

}  // namespace ftd
