// MatmulCpu / MatmulBackwardCpu: row-major GEMM on OpenBLAS's cblas_sgemm, batched by a loop over the batch
// (OpenBLAS threads each call itself, so the loop stays serial rather than nesting two thread pools).
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/gemm.h"

namespace ftd::cpu {

absl::Status MatmulCpu(const MatmulShape& s, float alpha, const float* a, const float* b, float beta, float* c) {
  const bool ta = s.trans_a == Transpose::kYes;
  const bool tb = s.trans_b == Transpose::kYes;
  for (int64_t i = 0; i < s.batch; ++i) {
    Gemm(ta, tb, s.m, s.n, s.k, alpha, a + i * s.stride_a, b + i * s.stride_b, beta, c + i * s.stride_c);
  }
  return absl::OkStatus();
}

absl::Status MatmulBackwardCpu(const MatmulShape& s, float alpha, const float* a, const float* b, const float* dc,
                               float* da, float* db, GradMode mode) {
  const bool ta = s.trans_a == Transpose::kYes;
  const bool tb = s.trans_b == Transpose::kYes;
  const float beta0 = mode == GradMode::kAccumulate ? 1.0f : 0.0f;
  for (int64_t i = 0; i < s.batch; ++i) {
    const float* ai = a + i * s.stride_a;
    const float* bi = b + i * s.stride_b;
    const float* dci = dc + i * s.stride_c;  // dC (m, n)
    if (da != nullptr) {
      // A shared across the batch (stride 0) sums its gradient over the batch.
      const float beta = (s.stride_a == 0 && i > 0) ? 1.0f : beta0;
      float* dai = da + i * s.stride_a;
      if (!ta) {
        // dA (m, k) = alpha * dC (m, n) @ op(B)^T (n, k).
        Gemm(false, !tb, s.m, s.k, s.n, alpha, dci, bi, beta, dai);
      } else {
        // dA (k, m) = alpha * op(B) (k, n) @ dC^T (n, m).
        Gemm(tb, true, s.k, s.m, s.n, alpha, bi, dci, beta, dai);
      }
    }
    if (db != nullptr) {
      const float beta = (s.stride_b == 0 && i > 0) ? 1.0f : beta0;
      float* dbi = db + i * s.stride_b;
      if (!tb) {
        // dB (k, n) = alpha * op(A)^T (k, m) @ dC (m, n).
        Gemm(!ta, false, s.k, s.n, s.m, alpha, ai, dci, beta, dbi);
      } else {
        // dB (n, k) = alpha * dC^T (n, m) @ op(A) (m, k).
        Gemm(true, ta, s.n, s.k, s.m, alpha, dci, ai, beta, dbi);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ftd::cpu
