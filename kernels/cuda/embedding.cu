// EmbeddingForwardCuda / EmbeddingBackwardCuda: token-id row gather and its scatter-add gradient, one thread per
// output element; the backward adds with atomicAdd because repeated ids hit the same dtable row.
#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launch.h"

namespace ftd::cuda {
namespace {

// An id outside [0, vocab) cannot be reported from a kernel without waiting for it, and Backend does not check ids
// on the host (they are device data); so instead of reading or writing out of bounds, the forward makes that row
// NaN (the loss turns NaN and the bug shows) and the backward drops its gradient.
__device__ __forceinline__ bool IdInRange(int32_t id, int64_t vocab) { return id >= 0 && id < vocab; }

// out (n, dim) = table[ids] (vocab, dim).
__global__ void EmbeddingForwardKernel(const int32_t* __restrict__ ids, const float* __restrict__ table,
                                       float* __restrict__ out, int64_t n, int64_t vocab, int64_t dim) {
  const int64_t count = n * dim;
  for (int64_t t = GridStart(); t < count; t += GridStep()) {
    const int64_t i = t / dim;
    const int32_t id = ids[i];
    out[t] = IdInRange(id, vocab) ? table[static_cast<int64_t>(id) * dim + (t - i * dim)] : __int_as_float(0x7FC00000);
  }
}

// dtable[ids] (vocab, dim) += dout (n, dim).
__global__ void EmbeddingBackwardKernel(const int32_t* __restrict__ ids, const float* __restrict__ dout,
                                        float* __restrict__ dtable, int64_t n, int64_t vocab, int64_t dim) {
  const int64_t count = n * dim;
  for (int64_t t = GridStart(); t < count; t += GridStep()) {
    const int64_t i = t / dim;
    const int32_t id = ids[i];
    if (IdInRange(id, vocab)) atomicAdd(dtable + static_cast<int64_t>(id) * dim + (t - i * dim), dout[t]);
  }
}

}  // namespace

absl::Status EmbeddingForwardCuda(const CudaContext& ctx, const int32_t* ids, const float* table, float* out,
                                  int64_t n, int64_t vocab, int64_t dim) {
  if (n * dim == 0) return absl::OkStatus();
  EmbeddingForwardKernel<<<GridFor(n * dim), kThreads, 0, ctx.stream>>>(ids, table, out, n, vocab, dim);
  return LaunchStatus("EmbeddingForwardKernel");
}

absl::Status EmbeddingBackwardCuda(const CudaContext& ctx, const int32_t* ids, const float* dout, float* dtable,
                                   int64_t n, int64_t vocab, int64_t dim) {
  if (n * dim == 0) return absl::OkStatus();
  EmbeddingBackwardKernel<<<GridFor(n * dim), kThreads, 0, ctx.stream>>>(ids, dout, dtable, n, vocab, dim);
  return LaunchStatus("EmbeddingBackwardKernel");
}

}  // namespace ftd::cuda
