// RmsNormForwardCpu / RmsNormBackwardCpu: HF LlamaRMSNorm in fp32, y = (x * rstd) * w with
// rstd = 1/sqrt(mean(x^2) + eps), the mean accumulated in double. Rows run in parallel.
#include <cmath>
#include <vector>

#include <omp.h>

#include "kernels/cpu/cpu_ops.h"

namespace ftd::cpu {

absl::Status RmsNormForwardCpu(const float* x, const float* weight, float eps, float* y, float* rstd, int64_t rows,
                               int64_t dim) {
#pragma omp parallel for schedule(static) if (rows * dim >= (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    double ss = 0.0;
    for (int64_t c = 0; c < dim; ++c) ss += static_cast<double>(xr[c]) * xr[c];
    const float var = static_cast<float>(ss / static_cast<double>(dim));
    const float rs = 1.0f / std::sqrt(var + eps);
    rstd[r] = rs;
    float* yr = y + r * dim;
    for (int64_t c = 0; c < dim; ++c) yr[c] = (xr[c] * rs) * weight[c];
  }
  return absl::OkStatus();
}

absl::Status RmsNormBackwardCpu(const float* x, const float* weight, const float* rstd, float eps, const float* dy,
                                float* dx, float* dweight, int64_t rows, int64_t dim) {
  (void)rstd;  // Recomputed in double below; a GPU backend may read it instead.
  // y_c = w_c x_c r with r = (mean(x^2) + eps)^(-1/2), so
  // dx_c = r w_c dy_c - (r^3 / dim) x_c sum_j(dy_j w_j x_j) and dw_c = sum_rows dy_c x_c r.
  const bool parallel = rows * dim >= (1 << 14);
  const int threads = parallel ? omp_get_max_threads() : 1;
  std::vector<double> partial(dweight != nullptr ? static_cast<size_t>(threads * dim) : 0, 0.0);  // (threads, dim)
#pragma omp parallel num_threads(threads) if (parallel)
  {
    double* dw_local = dweight != nullptr ? partial.data() + omp_get_thread_num() * dim : nullptr;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * dim;
      const float* gr = dy + r * dim;
      // rstd is recomputed in double rather than read back: the two terms of dx nearly cancel when
      // mean(x^2) is small against eps, and fp32 rstd's rounding would then dominate the difference.
      double ss = 0.0, dot = 0.0;
      for (int64_t c = 0; c < dim; ++c) {
        ss += static_cast<double>(xr[c]) * xr[c];
        dot += static_cast<double>(gr[c]) * weight[c] * xr[c];
      }
      const double rs = 1.0 / std::sqrt(ss / static_cast<double>(dim) + static_cast<double>(eps));
      const double k = rs * rs * rs * dot / static_cast<double>(dim);
      float* dxr = dx + r * dim;
      for (int64_t c = 0; c < dim; ++c) dxr[c] = static_cast<float>(rs * weight[c] * gr[c] - k * xr[c]);
      if (dw_local != nullptr) {
        for (int64_t c = 0; c < dim; ++c) dw_local[c] += static_cast<double>(gr[c]) * xr[c] * rs;
      }
    }
  }
  if (dweight != nullptr) {
    for (int t = 0; t < threads; ++t) {
      for (int64_t c = 0; c < dim; ++c) dweight[c] += static_cast<float>(partial[t * dim + c]);
    }
  }
  return absl::OkStatus();
}

}  // namespace ftd::cpu
