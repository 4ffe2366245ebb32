// The small elementwise ops the model needs (residual add, gradient add-into, dropout mask multiply, scale,
// copy, fill), as OpenMP loops that fall back to one thread below a size where threading costs more.
#include <algorithm>
#include <cstring>

#include "kernels/cpu/cpu_ops.h"

namespace ftd::cpu {
namespace {
constexpr int64_t kParallelMin = 1 << 15;  // Elements below which a loop runs on one thread.
}  // namespace

absl::Status AddCpu(const float* a, const float* b, float* out, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
  return absl::OkStatus();
}

absl::Status AddIntoCpu(float* dst, const float* src, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
  return absl::OkStatus();
}

absl::Status MulCpu(const float* a, const float* b, float* out, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
  return absl::OkStatus();
}

absl::Status ScaleCpu(float* x, float alpha, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
  return absl::OkStatus();
}

absl::Status CopyCpu(float* dst, const float* src, int64_t n) {
  if (dst != src) std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float));
  return absl::OkStatus();
}

absl::Status FillCpu(float* x, float value, int64_t n) {
  std::fill(x, x + n, value);
  return absl::OkStatus();
}

}  // namespace ftd::cpu
