// MatmulCuda / MatmulBackwardCuda, and RowMajorGemm / RowMajorGemmBf16 (launch.h), the row-major products on cuBLAS
// that every product of kernels/cuda goes through. cuBLAS is column-major: a row-major (r, c) matrix with row stride
// ld is the column-major (c, r) matrix with leading dimension ld, its transpose; so row-major Z = opX @ opY is
// computed as column-major Z^T = opY^T @ opX^T, i.e. cuBLAS's A is our Y, its B our X, and its (m, n) our (n, m).
#include <cublas_v2.h>

#include <climits>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launch.h"

namespace ftd::cuda {
namespace {

// One cuBLAS call (plain for one problem, strided-batched otherwise) with X and Y of type `in_type` (fp32, or bf16
// for RowMajorGemmBf16) and fp32 Z; all sizes already checked to fit in int.
absl::Status GemmCall(const CudaContext& ctx, cudaDataType in_type, bool trans_x, bool trans_y, int64_t m, int64_t n,
                      int64_t k, float alpha, const void* x, int64_t ldx, int64_t stride_x, const void* y,
                      int64_t ldy, int64_t stride_y, float beta, float* z, int64_t ldz, int64_t stride_z,
                      int64_t batch) {
  // CUBLAS_COMPUTE_32F (not *_FAST_TF32): fp32 products and sums, so the CPU's fp32 thresholds hold.
  if (batch == 1) {
    // A single problem's strides are meaningless (MatmulShape leaves them 0 or anything), so none reach cuBLAS.
    return FromCublas(cublasGemmEx(ctx.blas, trans_y ? CUBLAS_OP_T : CUBLAS_OP_N, trans_x ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, y, in_type,
                                   static_cast<int>(ldy), x, in_type, static_cast<int>(ldx), &beta, z, CUDA_R_32F,
                                   static_cast<int>(ldz), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                      "cublasGemmEx");
  }
  return FromCublas(
      cublasGemmStridedBatchedEx(ctx.blas, trans_y ? CUBLAS_OP_T : CUBLAS_OP_N, trans_x ? CUBLAS_OP_T : CUBLAS_OP_N,
                                 static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, y, in_type,
                                 static_cast<int>(ldy), static_cast<long long>(stride_y), x, in_type,
                                 static_cast<int>(ldx), static_cast<long long>(stride_x), &beta, z, CUDA_R_32F,
                                 static_cast<int>(ldz), static_cast<long long>(stride_z), static_cast<int>(batch),
                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "cublasGemmStridedBatchedEx");
}

// The leading dimensions, 0 resolved to dense, after checking that every size fits cuBLAS's int.
absl::Status ResolveSizes(bool trans_x, bool trans_y, int64_t m, int64_t n, int64_t k, int64_t& ldx, int64_t& ldy,
                          int64_t& ldz, int64_t batch) {
  if (ldx == 0) ldx = trans_x ? m : k;
  if (ldy == 0) ldy = trans_y ? k : n;
  if (ldz == 0) ldz = n;
  for (const int64_t v : {m, n, k, ldx, ldy, ldz, batch}) {
    if (v > INT_MAX) {
      return absl::InvalidArgumentError(absl::StrCat("cuda gemm: a size exceeds cuBLAS's int range (m=", m, ", n=",
                                                     n, ", k=", k, ", ldx=", ldx, ", ldy=", ldy, ", ldz=", ldz,
                                                     ", batch=", batch, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RowMajorGemm(const CudaContext& ctx, bool trans_x, bool trans_y, int64_t m, int64_t n, int64_t k,
                          float alpha, const float* x, int64_t ldx, int64_t stride_x, const float* y, int64_t ldy,
                          int64_t stride_y, float beta, float* z, int64_t ldz, int64_t stride_z, int64_t batch) {
  RETURN_IF_ERROR(ResolveSizes(trans_x, trans_y, m, n, k, ldx, ldy, ldz, batch));
  if (stride_z == 0 && batch > 1) {
    // One Z for the whole batch (a shared operand's gradient): cuBLAS's batched call may not write one C from
    // several problems, so run them in order, the first with beta and each later one adding (beta 1), exactly as
    // MatmulBackwardCpu's loop does.
    for (int64_t i = 0; i < batch; ++i) {
      RETURN_IF_ERROR(GemmCall(ctx, CUDA_R_32F, trans_x, trans_y, m, n, k, alpha, x + i * stride_x, ldx, 0,
                               y + i * stride_y, ldy, 0, i == 0 ? beta : 1.0f, z, ldz, 0, 1));
    }
    return absl::OkStatus();
  }
  return GemmCall(ctx, CUDA_R_32F, trans_x, trans_y, m, n, k, alpha, x, ldx, stride_x, y, ldy, stride_y, beta, z,
                  ldz, stride_z, batch);
}

absl::Status RowMajorGemmBf16(const CudaContext& ctx, bool trans_x, bool trans_y, int64_t m, int64_t n, int64_t k,
                              float alpha, const __nv_bfloat16* x, int64_t ldx, const __nv_bfloat16* y, int64_t ldy,
                              float beta, float* z, int64_t ldz) {
  RETURN_IF_ERROR(ResolveSizes(trans_x, trans_y, m, n, k, ldx, ldy, ldz, /*batch=*/1));
  // The handle's CUBLAS_PEDANTIC_MATH (cuda_backend.cc: no TF32 for the fp32 products) also asks for "standardized
  // arithmetic", which may keep bf16 inputs off the tensor cores; this product is meant for them (kernels.h), so it
  // runs under CUBLAS_DEFAULT_MATH. CUBLAS_COMPUTE_32F still sums in fp32, and the bf16 x bf16 products are exact in
  // fp32. The mode is read when the call is issued, so it is restored right after (ops come from one thread).
  cublasMath_t mode = CUBLAS_PEDANTIC_MATH;
  RETURN_IF_ERROR(FromCublas(cublasGetMathMode(ctx.blas, &mode), "cublasGetMathMode"));
  RETURN_IF_ERROR(FromCublas(cublasSetMathMode(ctx.blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode"));
  const absl::Status call = GemmCall(ctx, CUDA_R_16BF, trans_x, trans_y, m, n, k, alpha, x, ldx, 0, y, ldy, 0, beta,
                                     z, ldz, 0, /*batch=*/1);
  RETURN_IF_ERROR(FromCublas(cublasSetMathMode(ctx.blas, mode), "cublasSetMathMode"));
  return call;
}

absl::Status MatmulCuda(const CudaContext& ctx, const MatmulShape& s, float alpha, const float* a, const float* b,
                        float beta, float* c) {
  // C's stride is >= m*n when batch > 1 (Backend checks), so the batch never takes RowMajorGemm's summing path.
  return RowMajorGemm(ctx, s.trans_a == Transpose::kYes, s.trans_b == Transpose::kYes, s.m, s.n, s.k, alpha, a, 0,
                      s.stride_a, b, 0, s.stride_b, beta, c, 0, s.stride_c, s.batch);
}

absl::Status MatmulBackwardCuda(const CudaContext& ctx, const MatmulShape& s, float alpha, const float* a,
                                const float* b, const float* dc, float* da, float* db, GradMode mode) {
  const bool ta = s.trans_a == Transpose::kYes;
  const bool tb = s.trans_b == Transpose::kYes;
  const float beta = mode == GradMode::kAccumulate ? 1.0f : 0.0f;
  // The products are MatmulBackwardCpu's, batched; a gradient whose operand has stride 0 (shared by the batch) gets
  // stride 0 too, which RowMajorGemm sums over the batch. dC (m, n) steps by stride_c.
  if (da != nullptr && !ta) {
    // dA (m, k) = alpha * dC (m, n) @ op(B)^T (n, k).
    RETURN_IF_ERROR(RowMajorGemm(ctx, false, !tb, s.m, s.k, s.n, alpha, dc, 0, s.stride_c, b, 0, s.stride_b, beta,
                                 da, 0, s.stride_a, s.batch));
  } else if (da != nullptr) {
    // dA (k, m) = alpha * op(B) (k, n) @ dC^T (n, m).
    RETURN_IF_ERROR(RowMajorGemm(ctx, tb, true, s.k, s.m, s.n, alpha, b, 0, s.stride_b, dc, 0, s.stride_c, beta, da,
                                 0, s.stride_a, s.batch));
  }
  if (db != nullptr && !tb) {
    // dB (k, n) = alpha * op(A)^T (k, m) @ dC (m, n).
    RETURN_IF_ERROR(RowMajorGemm(ctx, !ta, false, s.k, s.n, s.m, alpha, a, 0, s.stride_a, dc, 0, s.stride_c, beta,
                                 db, 0, s.stride_b, s.batch));
  } else if (db != nullptr) {
    // dB (n, k) = alpha * dC^T (n, m) @ op(A) (m, k).
    RETURN_IF_ERROR(RowMajorGemm(ctx, true, ta, s.n, s.k, s.m, alpha, dc, 0, s.stride_c, a, 0, s.stride_a, beta, db,
                                 0, s.stride_b, s.batch));
  }
  return absl::OkStatus();
}

}  // namespace ftd::cuda
