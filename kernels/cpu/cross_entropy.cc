// CrossEntropyForwardCpu / CrossEntropyBackwardCpu: softmax + cross-entropy over the vocabulary, one row per
// token, stable by max subtraction, the fp32 exps summed in double; kIgnoreIndex rows give 0 loss and 0 gradient.
// The row loops run on the widest vector path the CPU has (vector_math.h).
#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/vector_math.h"

namespace ftd::cpu {
namespace {

absl::Status CheckTargets(absl::string_view op, const int32_t* targets, int64_t rows, int64_t vocab) {
  for (int64_t r = 0; r < rows; ++r) {
    if (targets[r] != kIgnoreIndex && (targets[r] < 0 || targets[r] >= vocab)) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": targets[", r, "]=", targets[r],
                                                     " is neither in [0, vocab=", vocab, ") nor ", kIgnoreIndex));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CrossEntropyForwardCpu(const float* logits, const int32_t* targets, float* losses, float* lse,
                                    int64_t rows, int64_t vocab) {
  if (absl::Status s = CheckTargets("cross_entropy", targets, rows, vocab); !s.ok()) return s;
#pragma omp parallel for schedule(static) if (rows * vocab >= (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * vocab;
    const float mx = vec::RowMax(x, vocab);
    const double sum = vec::SumExp(x, vocab, mx);
    const double l = static_cast<double>(mx) + std::log(sum);
    lse[r] = static_cast<float>(l);
    losses[r] = targets[r] == kIgnoreIndex ? 0.0f : static_cast<float>(l - x[targets[r]]);
  }
  return absl::OkStatus();
}

absl::Status CrossEntropyBackwardCpu(const float* logits, const int32_t* targets, const float* lse,
                                     float grad_scale, float* dlogits, int64_t rows, int64_t vocab) {
  if (absl::Status s = CheckTargets("cross_entropy_backward", targets, rows, vocab); !s.ok()) return s;
#pragma omp parallel for schedule(static) if (rows * vocab >= (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * vocab;  // May alias d: each element is read before it is written.
    float* d = dlogits + r * vocab;
    const int32_t t = targets[r];
    if (t == kIgnoreIndex) {
      for (int64_t j = 0; j < vocab; ++j) d[j] = 0.0f;
      continue;
    }
    vec::ExpScale(x, lse[r], grad_scale, d, vocab);
    d[t] -= grad_scale;
  }
  return absl::OkStatus();
}

}  // namespace ftd::cpu
