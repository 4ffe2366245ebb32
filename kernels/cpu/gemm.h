// One row-major sgemm helper over OpenBLAS, shared by the CPU ops that multiply matrices (matmul, LoRA,
// attention), so each states its products as shapes instead of leading dimensions.
#pragma once

#include <cblas.h>

#include <cstdint>

namespace ftd::cpu {

// Z (m, n) = alpha * opX (m, k) @ opY (k, n) + beta * Z. X is stored (m, k), or (k, m) when trans_x; Y is
// stored (k, n), or (n, k) when trans_y. ld* are the row strides (elements) of X, Y and Z as stored; 0 means
// dense (the stored column count).
inline void Gemm(bool trans_x, bool trans_y, int64_t m, int64_t n, int64_t k, float alpha, const float* x,
                 const float* y, float beta, float* z, int64_t ldx = 0, int64_t ldy = 0, int64_t ldz = 0) {
  if (ldx == 0) ldx = trans_x ? m : k;
  if (ldy == 0) ldy = trans_y ? k : n;
  if (ldz == 0) ldz = n;
  cblas_sgemm(CblasRowMajor, trans_x ? CblasTrans : CblasNoTrans, trans_y ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, x, static_cast<int>(ldx), y,
              static_cast<int>(ldy), beta, z, static_cast<int>(ldz));
}

}  // namespace ftd::cpu
