// RmsNormForwardCpu / RmsNormBackwardCpu: HF LlamaRMSNorm in fp32, y = (x * rstd) * w with
// rstd = 1/sqrt(mean(x^2) + eps), the mean accumulated in double. Rows run in parallel, each on the widest vector
// path the CPU has (vector_math.h), the double sums in double lanes.
#include <cmath>
#include <vector>

#include <omp.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/vector_math.h"

namespace ftd::cpu {
namespace {

// One row of the forward: y = (x * rs) * w; returns rs.
struct RmsNormRowKernel {
  template <int W>
  static FTD_VEC_INLINE float Run(const float* x, const float* weight, float eps, float* y, int64_t dim) {
    const double ss = vec::DotF64Kernel::Run<W>(x, x, dim);
    const float var = static_cast<float>(ss / static_cast<double>(dim));
    const float rs = 1.0f / std::sqrt(var + eps);
    typename vec::Lanes<W>::F xv, wv;
    int64_t c = 0;
    for (; c + W <= dim; c += W) {
      vec::Load(xv, x + c);
      vec::Load(wv, weight + c);
      vec::Store(y + c, (xv * rs) * wv);
    }
    for (; c < dim; ++c) y[c] = (x[c] * rs) * weight[c];
    return rs;
  }
};

// One row of the backward, all in double: dx = rs w dy - k x with k = rs^3 sum(dy w x) / dim, and
// dw_local += dy x rs when dw_local is not null.
struct RmsNormBackwardRowKernel {
  template <int W>
  static FTD_VEC_INLINE void Run(const float* x, const float* weight, float eps, const float* dy, float* dx,
                                 double* dw_local, int64_t dim) {
    using L = vec::Lanes<W>;
    typename L::F xv, wv, gv;
    typename L::D x_lo, x_hi, w_lo, w_hi, g_lo, g_hi, ss_lo{}, ss_hi{}, dot_lo{}, dot_hi{};
    int64_t c = 0;
    for (; c + W <= dim; c += W) {
      vec::Load(xv, x + c);
      vec::Load(wv, weight + c);
      vec::Load(gv, dy + c);
      vec::Widen<W>(xv, x_lo, x_hi);
      vec::Widen<W>(wv, w_lo, w_hi);
      vec::Widen<W>(gv, g_lo, g_hi);
      ss_lo += x_lo * x_lo;
      ss_hi += x_hi * x_hi;
      dot_lo += g_lo * w_lo * x_lo;
      dot_hi += g_hi * w_hi * x_hi;
    }
    double ss = vec::SumLanes<W>(ss_lo, ss_hi), dot = vec::SumLanes<W>(dot_lo, dot_hi);
    for (int64_t t = c; t < dim; ++t) {
      ss += static_cast<double>(x[t]) * x[t];
      dot += static_cast<double>(dy[t]) * weight[t] * x[t];
    }
    const double rs = 1.0 / std::sqrt(ss / static_cast<double>(dim) + static_cast<double>(eps));
    const double k = rs * rs * rs * dot / static_cast<double>(dim);
    typename L::D dx_lo, dx_hi, dw_lo, dw_hi;
    for (c = 0; c + W <= dim; c += W) {
      vec::Load(xv, x + c);
      vec::Load(wv, weight + c);
      vec::Load(gv, dy + c);
      vec::Widen<W>(xv, x_lo, x_hi);
      vec::Widen<W>(wv, w_lo, w_hi);
      vec::Widen<W>(gv, g_lo, g_hi);
      dx_lo = rs * w_lo * g_lo - k * x_lo;
      dx_hi = rs * w_hi * g_hi - k * x_hi;
      vec::StoreNarrow<W>(dx + c, dx_lo, dx_hi);
      if (dw_local != nullptr) {
        vec::Load(dw_lo, dw_local + c);
        vec::Load(dw_hi, dw_local + c + W / 2);
        vec::Store(dw_local + c, dw_lo + g_lo * x_lo * rs);
        vec::Store(dw_local + c + W / 2, dw_hi + g_hi * x_hi * rs);
      }
    }
    for (; c < dim; ++c) {
      dx[c] = static_cast<float>(rs * weight[c] * dy[c] - k * x[c]);
      if (dw_local != nullptr) dw_local[c] += static_cast<double>(dy[c]) * x[c] * rs;
    }
  }
};

}  // namespace

absl::Status RmsNormForwardCpu(const float* x, const float* weight, float eps, float* y, float* rstd, int64_t rows,
                               int64_t dim) {
#pragma omp parallel for schedule(static) if (rows * dim >= (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    rstd[r] = vec::Run<RmsNormRowKernel>(x + r * dim, weight, eps, y + r * dim, dim);
  }
  return absl::OkStatus();
}

absl::Status RmsNormBackwardCpu(const float* x, const float* weight, const float* rstd, float eps, const float* dy,
                                float* dx, float* dweight, int64_t rows, int64_t dim) {
  (void)rstd;  // Recomputed in double (RmsNormBackwardRowKernel); a GPU backend may read it instead.
  // y_c = w_c x_c r with r = (mean(x^2) + eps)^(-1/2), so
  // dx_c = r w_c dy_c - (r^3 / dim) x_c sum_j(dy_j w_j x_j) and dw_c = sum_rows dy_c x_c r.
  // rstd is recomputed in double rather than read back: the two terms of dx nearly cancel when mean(x^2) is small
  // against eps, and fp32 rstd's rounding would then dominate the difference.
  const bool parallel = rows * dim >= (1 << 14);
  const int threads = parallel ? omp_get_max_threads() : 1;
  std::vector<double> partial(dweight != nullptr ? static_cast<size_t>(threads * dim) : 0, 0.0);  // (threads, dim)
#pragma omp parallel num_threads(threads) if (parallel)
  {
    double* dw_local = dweight != nullptr ? partial.data() + omp_get_thread_num() * dim : nullptr;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      vec::Run<RmsNormBackwardRowKernel>(x + r * dim, weight, eps, dy + r * dim, dx + r * dim, dw_local, dim);
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
