// LoraForwardCpu / LoraBackwardCpu: the PEFT LoRA branch y += scale * (x_d @ A^T) @ B^T as two sgemms, keeping
// xa = x_d @ A^T (rows, rank) for the backward.
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/gemm.h"

namespace ftd::cpu {

absl::Status LoraForwardCpu(const LoraShape& s, const float* x_d, const float* a, const float* b, float scale,
                            float* xa, float* y) {
  Gemm(false, true, s.rows, s.rank, s.in, 1.0f, x_d, a, 0.0f, xa);    // xa (rows, rank) = x_d @ A^T
  Gemm(false, true, s.rows, s.out, s.rank, scale, xa, b, 1.0f, y);   // y (rows, out) += scale * xa @ B^T
  return absl::OkStatus();
}

absl::Status LoraBackwardCpu(const LoraShape& s, const float* x_d, const float* keep_mask, const float* a,
                             const float* b, const float* xa, float scale, const float* dy, float* da, float* db,
                             float* dx) {
  Gemm(true, false, s.out, s.rank, s.rows, scale, dy, xa, 1.0f, db);  // dB (out, rank) += scale * dy^T @ xa
  std::vector<float> dxa(static_cast<size_t>(s.rows * s.rank));      // (rows, rank)
  Gemm(false, false, s.rows, s.rank, s.out, scale, dy, b, 0.0f, dxa.data());  // dxa = scale * dy @ B
  Gemm(true, false, s.rank, s.in, s.rows, 1.0f, dxa.data(), x_d, 1.0f, da);   // dA (rank, in) += dxa^T @ x_d
  if (dx == nullptr) return absl::OkStatus();
  if (keep_mask == nullptr) {
    Gemm(false, false, s.rows, s.in, s.rank, 1.0f, dxa.data(), a, 1.0f, dx);  // dx (rows, in) += dxa @ A
    return absl::OkStatus();
  }
  std::vector<float> dxd(static_cast<size_t>(s.rows * s.in));  // (rows, in): d x_d before the mask
  Gemm(false, false, s.rows, s.in, s.rank, 1.0f, dxa.data(), a, 0.0f, dxd.data());
  const int64_t n = s.rows * s.in;
#pragma omp parallel for schedule(static) if (n >= (1 << 15))
  for (int64_t i = 0; i < n; ++i) dx[i] += keep_mask[i] * dxd[i];
  return absl::OkStatus();
}

}  // namespace ftd::cpu
