// The two matrix products of a LoRA branch that have one dimension as small as the rank r: OpenBLAS runs them at
// a fifth of its big-GEMM speed (it repacks the whole tall operand for a 16-wide result), so the CPU LoRA op uses
// these instead. On AVX-512 machines with r a multiple of 16 (up to 64) they run register-blocked kernels that read
// the tall operand once; otherwise they fall back to sgemm. Both parallelise with OpenMP.
#pragma once

#include <cstdint>

namespace ftd::cpu {

// C (m, r) = alpha * X (m, k) @ Y (k, r) + beta * C. X has row stride ldx; Y and C are dense.
void SkinnyGemmRight(int64_t m, int64_t k, int64_t r, float alpha, const float* x, int64_t ldx, const float* y,
                     float beta, float* c);

// D (k, r) += alpha * X^T (k, m) @ Z (m, r): the sum over the m rows of the outer products X[i, :]^T Z[i, :]. X has
// row stride ldx; Z and D are dense.
void SkinnyGemmReduce(int64_t m, int64_t k, int64_t r, float alpha, const float* x, int64_t ldx, const float* z,
                      float* d);

}  // namespace ftd::cpu
