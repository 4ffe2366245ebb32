// SwiGluForwardCuda / SwiGluBackwardCuda: the Llama MLP's h = silu(gate) * up and its gradients, elementwise, with
// kernels/cpu/swiglu.cc's formulas (grid-stride, one element per thread per step).
#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/cuda_ops.h"

namespace ftd::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;  // Grid-stride beyond this (gridDim.x allows 2^31 - 1).

unsigned int GridFor(int64_t n) {
  return static_cast<unsigned int>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

// sig = 1 / (1 + e^-g): e^-g = +inf at very negative g gives sig = 0 and e^-g = 0 at very positive g gives 1, so
// neither tail makes a NaN (g * e / (1 + e) would: inf / inf). expf, not __expf, for the CPU's ~1 ulp accuracy.
__device__ __forceinline__ float Sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

// Each element is read and written by one thread, so h may alias gate or up.
__global__ void __launch_bounds__(kThreads) SwiGluForwardKernel(const float* gate, const float* up, float* h,
                                                                int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    const float sig = Sigmoid(g);
    h[i] = g * sig * up[i];
  }
}

__global__ void __launch_bounds__(kThreads)
    SwiGluBackwardKernel(const float* gate, const float* up, const float* dh, float* dgate, float* dup, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    const float u = up[i];
    const float d = dh[i];
    const float sig = Sigmoid(g);
    // d silu / dg = sig * (1 + g * (1 - sig)).
    dgate[i] = d * u * sig * (1.0f + g * (1.0f - sig));
    dup[i] = d * (g * sig);
  }
}

}  // namespace

absl::Status SwiGluForwardCuda(const CudaContext& ctx, const float* gate, const float* up, float* h, int64_t n) {
  if (n <= 0) return absl::OkStatus();
  SwiGluForwardKernel<<<GridFor(n), kThreads, 0, ctx.stream>>>(gate, up, h, n);
  return LaunchStatus("SwiGluForwardKernel");
}

absl::Status SwiGluBackwardCuda(const CudaContext& ctx, const float* gate, const float* up, const float* dh,
                                float* dgate, float* dup, int64_t n) {
  if (n <= 0) return absl::OkStatus();
  SwiGluBackwardKernel<<<GridFor(n), kThreads, 0, ctx.stream>>>(gate, up, dh, dgate, dup, n);
  return LaunchStatus("SwiGluBackwardKernel");
}

}  // namespace ftd::cuda
