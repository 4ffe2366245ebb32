// Block-wide reductions for the CUDA kernels (one block per row: norms, softmax, cross-entropy, attention, sums of
// squares): warp shuffles, then one warp over the warps' results, in a fixed order, so a result does not depend on
// timing. Device code only; blockDim.x must be a multiple of 32 (every kernel here launches whole warps).
#pragma once

#include <cuda_runtime.h>

namespace ftd::cuda {

// op over the block, returned to every thread; every thread of the block must call it. The leading barrier lets a
// caller use it again straight away (nobody overwrites the shared slots while the previous result is being read).
template <typename T, typename Op>
__device__ T BlockReduce(T v, T identity, Op op) {
  __shared__ T warp_vals[32];
  __shared__ T result;
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  __syncthreads();
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  if (lane == 0) warp_vals[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < static_cast<int>(blockDim.x / 32) ? warp_vals[lane] : identity;
    for (int offset = 16; offset > 0; offset >>= 1) w = op(w, __shfl_xor_sync(0xffffffffu, w, offset));
    if (lane == 0) result = w;
  }
  __syncthreads();
  return result;
}

struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};
// fmaxf ignores a NaN operand: callers that must propagate NaN do so through their sums.
struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// The block's sum in double (as the CPU's row sums), returned to every thread.
__device__ inline double BlockSum(double v) { return BlockReduce(v, 0.0, SumOp()); }
// The block's largest value, returned to every thread.
__device__ inline float BlockMax(float v) { return BlockReduce(v, -INFINITY, MaxOp()); }

}  // namespace ftd::cuda
