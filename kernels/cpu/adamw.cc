// AdamWStepCpu (torch.optim.AdamW's single-tensor update, same operation order) and SumSquaresCpu (one
// buffer's share of the global gradient norm, accumulated in double).
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace ftd::cpu {

absl::Status AdamWStepCpu(const AdamWConfig& c, float* param, const float* grad, float* m, float* v, int64_t n) {
  // Scalars as torch computes them, in double from the configured values, then used in fp32.
  const double lr = c.lr;
  const float decay = static_cast<float>(1.0 - lr * static_cast<double>(c.weight_decay));
  const float w1 = static_cast<float>(1.0 - static_cast<double>(c.beta1));  // lerp weight.
  const float b2 = c.beta2;
  const float one_minus_b2 = static_cast<float>(1.0 - static_cast<double>(c.beta2));
  const double bc1 = 1.0 - std::pow(static_cast<double>(c.beta1), static_cast<double>(c.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(c.beta2), static_cast<double>(c.step));
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float eps = c.eps;
#pragma omp parallel for schedule(static) if (n >= (1 << 15))
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    float p = param[i] * decay;
    // torch.lerp: weight < 0.5 ? m + w (g - m) : g - (g - m)(1 - w).
    const float mi = w1 < 0.5f ? m[i] + w1 * (g - m[i]) : g - (g - m[i]) * (1.0f - w1);
    const float vi = v[i] * b2 + one_minus_b2 * g * g;
    const float denom = std::sqrt(vi) / bc2_sqrt + eps;
    p += -step_size * (mi / denom);
    m[i] = mi;
    v[i] = vi;
    param[i] = p;
  }
  return absl::OkStatus();
}

absl::Status SumSquaresCpu(const float* x, int64_t n, float* sum_sq) {
  double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (n >= (1 << 15))
  for (int64_t i = 0; i < n; ++i) total += static_cast<double>(x[i]) * x[i];
  sum_sq[0] += static_cast<float>(total);
  return absl::OkStatus();
}

}  // namespace ftd::cpu
