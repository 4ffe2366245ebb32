// Helpers shared by the kernels/cuda op files (internal to kernels/cuda): launch geometry for the elementwise
// kernels (1-D grids with int64 grid-stride loops) and the row-major gemms every product goes through.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/cuda_ops.h"

namespace ftd::cuda {

// Threads per block of the elementwise kernels: a multiple of the warp that keeps occupancy high on sm_90.
inline constexpr int kThreads = 256;

// Blocks beyond this many add nothing (a few waves fill the device); the grid-stride loops cover the rest, so an
// int64 n never overflows the grid.
inline constexpr int64_t kMaxBlocks = int64_t{65535} * 8;

// Blocks for n work items at `threads` per block, at least 1 and at most kMaxBlocks.
inline unsigned int GridFor(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned int>(std::clamp<int64_t>(blocks, 1, kMaxBlocks));
}

// The grid-stride loop's first index and step, in int64 so n past 2^31 cannot wrap.
__device__ __forceinline__ int64_t GridStart() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t GridStep() { return static_cast<int64_t>(blockDim.x) * gridDim.x; }

// The row-major product of kernels/cpu/gemm.h's Gemm on cuBLAS, for `batch` problems:
// Z_i (m, n) = alpha * opX_i (m, k) @ opY_i (k, n) + beta * Z_i with X_i = x + i * stride_x (likewise y, z).
// X is stored (m, k), or (k, m) when trans_x; Y is stored (k, n), or (n, k) when trans_y. ld* are the row strides
// (elements) of X, Y and Z as stored; 0 means dense (the stored column count). stride_x or stride_y may be 0 (an
// operand shared by the batch); stride_z 0 with batch > 1 sums the batch into one Z (beta applies to the first
// problem only, each later one adds), as MatmulBackwardCpu does for a shared operand's gradient. fp32 in and out,
// CUBLAS_COMPUTE_32F (no TF32). INVALID_ARGUMENT where a size exceeds cuBLAS's int range. Defined in matmul.cu.
absl::Status RowMajorGemm(const CudaContext& ctx, bool trans_x, bool trans_y, int64_t m, int64_t n, int64_t k,
                          float alpha, const float* x, int64_t ldx, int64_t stride_x, const float* y, int64_t ldy,
                          int64_t stride_y, float beta, float* z, int64_t ldz, int64_t stride_z, int64_t batch = 1);

// RowMajorGemm for one problem with bf16 X and Y (fp32 Z, alpha, beta): tensor-core products of bf16 pairs summed in
// fp32 (CUBLAS_COMPUTE_32F; see matmul.cu for the math mode). For the bf16 linear ops. Defined in matmul.cu.
absl::Status RowMajorGemmBf16(const CudaContext& ctx, bool trans_x, bool trans_y, int64_t m, int64_t n, int64_t k,
                              float alpha, const __nv_bfloat16* x, int64_t ldx, const __nv_bfloat16* y, int64_t ldy,
                              float beta, float* z, int64_t ldz);

}  // namespace ftd::cuda
