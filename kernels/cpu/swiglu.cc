// SwiGluForwardCpu / SwiGluBackwardCpu: the Llama MLP's h = silu(gate) * up and its gradients, elementwise.
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace ftd::cpu {
namespace {
constexpr int64_t kParallelMin = 1 << 14;
}  // namespace

absl::Status SwiGluForwardCpu(const float* gate, const float* up, float* h, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float sig = 1.0f / (1.0f + std::exp(-g));
    h[i] = g * sig * up[i];
  }
  return absl::OkStatus();
}

absl::Status SwiGluBackwardCpu(const float* gate, const float* up, const float* dh, float* dgate, float* dup,
                               int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float sig = 1.0f / (1.0f + std::exp(-g));
    const float silu = g * sig;
    // d silu / dg = sig * (1 + g * (1 - sig)).
    dgate[i] = dh[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
    dup[i] = dh[i] * silu;
  }
  return absl::OkStatus();
}

}  // namespace ftd::cpu
