// CrossEntropyForwardCuda / CrossEntropyBackwardCuda: softmax + cross-entropy over the vocabulary, one block per row
// (token), as kernels/cpu/cross_entropy.cc: stable by max subtraction, the fp32 exps summed in double, lse written
// for every row; kIgnoreIndex rows give 0 loss and 0 gradient. The probabilities are never stored apart from dlogits.
//
// Targets: the CPU backend rejects a target that is neither in [0, vocab) nor kIgnoreIndex with INVALID_ARGUMENT.
// Checking here would need a device-to-host copy (a synchronisation), so the GPU treats such a row as ignored
// instead (0 loss, 0 gradient, never an out-of-bounds read): the caller's id validation is the check that reports.
#include <math_constants.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace ftd::cuda {
namespace {

constexpr int kThreads = 512;  // A multiple of the warp size (the block reductions rely on whole warps).
// Row loops are grid-stride, so the grid is capped well below the 2^31 - 1 limit of gridDim.x.
constexpr int64_t kMaxBlocks = int64_t{1} << 20;

unsigned int GridFor(int64_t rows) { return static_cast<unsigned int>(std::clamp<int64_t>(rows, 1, kMaxBlocks)); }

__device__ __forceinline__ bool CountsTarget(int32_t t, int64_t vocab) { return t >= 0 && t < vocab; }


// lse = max + log(sum e^(x - max)), the exps in fp32, their sum and the log in double; loss = lse - x[target] in
// double, rounded once.
__global__ void __launch_bounds__(kThreads)
    CrossEntropyForwardKernel(const float* logits, const int32_t* targets, float* losses, float* lse, int64_t rows,
                              int64_t vocab) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* x = logits + r * vocab;
    float mx = -CUDART_INF_F;
    for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) mx = fmaxf(mx, x[j]);
    mx = BlockMax(mx);
    double sum = 0.0;
    for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) sum += static_cast<double>(expf(x[j] - mx));
    sum = BlockSum(sum);
    if (threadIdx.x == 0) {
      const double l = static_cast<double>(mx) + log(sum);
      lse[r] = static_cast<float>(l);
      const int32_t t = targets[r];
      losses[r] = CountsTarget(t, vocab) ? static_cast<float>(l - static_cast<double>(x[t])) : 0.0f;
    }
  }
}

// dlogits = e^(x - lse) * grad_scale, minus grad_scale at the target. Given lse this is elementwise: each element is
// read and then written by the same thread, so dlogits may equal logits.
__global__ void __launch_bounds__(kThreads)
    CrossEntropyBackwardKernel(const float* logits, const int32_t* targets, const float* lse, float grad_scale,
                               float* dlogits, int64_t rows, int64_t vocab) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* x = logits + r * vocab;
    float* d = dlogits + r * vocab;
    const int32_t t = targets[r];
    if (!CountsTarget(t, vocab)) {
      for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) d[j] = 0.0f;
      continue;
    }
    const float l = lse[r];
    for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
      float v = expf(x[j] - l) * grad_scale;
      if (j == t) v -= grad_scale;
      d[j] = v;
    }
  }
}

}  // namespace

absl::Status CrossEntropyForwardCuda(const CudaContext& ctx, const float* logits, const int32_t* targets,
                                     float* losses, float* lse, int64_t rows, int64_t vocab) {
  if (rows <= 0 || vocab <= 0) return absl::OkStatus();
  CrossEntropyForwardKernel<<<GridFor(rows), kThreads, 0, ctx.stream>>>(logits, targets, losses, lse, rows, vocab);
  return LaunchStatus("CrossEntropyForwardKernel");
}

absl::Status CrossEntropyBackwardCuda(const CudaContext& ctx, const float* logits, const int32_t* targets,
                                      const float* lse, float grad_scale, float* dlogits, int64_t rows,
                                      int64_t vocab) {
  if (rows <= 0 || vocab <= 0) return absl::OkStatus();
  CrossEntropyBackwardKernel<<<GridFor(rows), kThreads, 0, ctx.stream>>>(logits, targets, lse, grad_scale, dlogits,
                                                                          rows, vocab);
  return LaunchStatus("CrossEntropyBackwardKernel");
}

}  // namespace ftd::cuda
