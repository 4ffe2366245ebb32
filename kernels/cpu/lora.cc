// LoraForwardCpu / LoraBackwardCpu: the PEFT LoRA branch y += scale * (x_d @ A^T) @ B^T, keeping xa = x_d @ A^T
// (rows, rank) for the backward. The products with a rank-wide side (xa, dxa, dA, dB) run on the skinny kernels;
// the rank-deep ones that update the wide y and dx run on sgemm.
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/skinny_gemm.h"

namespace ftd::cpu {
namespace {

// (rows, cols) -> (cols, rows).
std::vector<float> Transposed(const float* m, int64_t rows, int64_t cols) {
  std::vector<float> t(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) t[j * rows + i] = m[i * cols + j];
  }
  return t;
}

}  // namespace

absl::Status LoraForwardCpu(const LoraShape& s, const float* x_d, const float* a, const float* b, float scale,
                            float* xa, float* y) {
  const std::vector<float> at = Transposed(a, s.rank, s.in);                   // (in, rank)
  SkinnyGemmRight(s.rows, s.in, s.rank, 1.0f, x_d, s.in, at.data(), 0.0f, xa);  // xa (rows, rank) = x_d @ A^T
  Gemm(false, true, s.rows, s.out, s.rank, scale, xa, b, 1.0f, y);              // y (rows, out) += scale * xa @ B^T
  return absl::OkStatus();
}

absl::Status LoraBackwardCpu(const LoraShape& s, const float* x_d, const float* keep_mask, const float* a,
                             const float* b, const float* xa, float scale, const float* dy, float* da, float* db,
                             float* dx) {
  SkinnyGemmReduce(s.rows, s.out, s.rank, scale, dy, s.out, xa, db);  // dB (out, rank) += scale * dy^T @ xa
  std::vector<float> dxa(static_cast<size_t>(s.rows * s.rank));       // (rows, rank)
  SkinnyGemmRight(s.rows, s.out, s.rank, scale, dy, s.out, b, 0.0f, dxa.data());  // dxa = scale * dy @ B
  std::vector<float> dat(static_cast<size_t>(s.in * s.rank), 0.0f);               // (in, rank)
  SkinnyGemmReduce(s.rows, s.in, s.rank, 1.0f, x_d, s.in, dxa.data(), dat.data());  // dA^T = x_d^T @ dxa
  for (int64_t j = 0; j < s.rank; ++j) {
    for (int64_t p = 0; p < s.in; ++p) da[j * s.in + p] += dat[p * s.rank + j];  // dA (rank, in) +=
  }
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
