// AdamWStepCuda (torch.optim.AdamW's single-tensor update in the operation order AdamWStepCpu uses, every fp32 step
// rounded alone so the result matches the CPU's bit for bit) and SumSquaresCuda (one buffer's share of the global
// gradient norm, accumulated in double and reduced in a fixed order, so it is the same on every run).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/status/status.h"
#include "common/status_macros.h"
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launch.h"

namespace ftd::cuda {
namespace {

// AdamWStepCpu's scalars, made on the host exactly as it makes them (double from the config, then fp32).
struct AdamWScalars {
  float decay;         // 1 - lr * weight_decay
  float w1;            // 1 - beta1, torch.lerp's weight
  float one_minus_w1;  // 1 - w1, in fp32 as the CPU's lerp computes it
  bool lerp_low;       // w1 < 0.5: which of torch.lerp's two forms
  float b2;
  float one_minus_b2;
  float step_size;  // lr / (1 - beta1^step)
  float bc2_sqrt;   // sqrt(1 - beta2^step)
  float eps;
};

// The __f*_rn intrinsics keep nvcc from fusing a multiply and an add into an FMA (the CPU build, without -march,
// rounds each step), and pin division and sqrt to IEEE rounding whatever the compile flags.
__global__ void AdamWStepKernel(AdamWScalars s, float* __restrict__ param, const float* __restrict__ grad,
                                float* __restrict__ m, float* __restrict__ v, int64_t n) {
  for (int64_t i = GridStart(); i < n; i += GridStep()) {
    const float g = grad[i];
    const float mo = m[i];
    float p = __fmul_rn(param[i], s.decay);
    // torch.lerp: weight < 0.5 ? m + w (g - m) : g - (g - m)(1 - w).
    const float mi = s.lerp_low ? __fadd_rn(mo, __fmul_rn(s.w1, __fsub_rn(g, mo)))
                                : __fsub_rn(g, __fmul_rn(__fsub_rn(g, mo), s.one_minus_w1));
    // v * b2 + (1 - b2) * g * g, left to right.
    const float vi = __fadd_rn(__fmul_rn(v[i], s.b2), __fmul_rn(__fmul_rn(s.one_minus_b2, g), g));
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), s.bc2_sqrt), s.eps);
    p = __fadd_rn(p, __fmul_rn(-s.step_size, __fdiv_rn(mi, denom)));
    m[i] = mi;
    v[i] = vi;
    param[i] = p;
  }
}

// Blocks of the first SumSquares pass: enough to fill the device, and few enough for one block to reduce.
constexpr int kSumBlocks = 1024;


// partials[block] = the block's share of sum(x^2), in double. Launched with kThreads threads.
__global__ void SumSquaresPartialKernel(const float* __restrict__ x, int64_t n, double* __restrict__ partials) {
  double total = 0.0;
  for (int64_t i = GridStart(); i < n; i += GridStep()) {
    const double xi = x[i];
    total += xi * xi;
  }
  total = BlockSum(total);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// sum_sq[0] += float(sum of partials): one block, so the one fp32 add is made by one thread. Launched with
// kThreads threads.
__global__ void SumSquaresFinalKernel(const double* __restrict__ partials, int count, float* __restrict__ sum_sq) {
  double total = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) total += partials[i];
  total = BlockSum(total);
  if (threadIdx.x == 0) sum_sq[0] += static_cast<float>(total);
}

}  // namespace

absl::Status AdamWStepCuda(const CudaContext& ctx, const AdamWConfig& config, float* param, const float* grad,
                           float* m, float* v, int64_t n) {
  if (n == 0) return absl::OkStatus();
  // Scalars as torch computes them, in double from the configured values, then used in fp32 (as AdamWStepCpu).
  const double lr = config.lr;
  AdamWScalars s;
  s.decay = static_cast<float>(1.0 - lr * static_cast<double>(config.weight_decay));
  s.w1 = static_cast<float>(1.0 - static_cast<double>(config.beta1));
  s.one_minus_w1 = 1.0f - s.w1;
  s.lerp_low = s.w1 < 0.5f;
  s.b2 = config.beta2;
  s.one_minus_b2 = static_cast<float>(1.0 - static_cast<double>(config.beta2));
  const double bc1 = 1.0 - std::pow(static_cast<double>(config.beta1), static_cast<double>(config.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(config.beta2), static_cast<double>(config.step));
  s.step_size = static_cast<float>(lr / bc1);
  s.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  s.eps = config.eps;
  AdamWStepKernel<<<GridFor(n), kThreads, 0, ctx.stream>>>(s, param, grad, m, v, n);
  return LaunchStatus("AdamWStepKernel");
}

absl::Status SumSquaresCuda(const CudaContext& ctx, const float* x, int64_t n, float* sum_sq) {
  // With n == 0 the CPU adds 0 to sum_sq[0], which leaves it as it is.
  if (n == 0) return absl::OkStatus();
  const int blocks = static_cast<int>(std::min<int64_t>(GridFor(n), kSumBlocks));
  ASSIGN_OR_RETURN(void* scratch, ctx.scratch(blocks * static_cast<int64_t>(sizeof(double))));
  double* partials = static_cast<double*>(scratch);  // (blocks)
  SumSquaresPartialKernel<<<blocks, kThreads, 0, ctx.stream>>>(x, n, partials);
  RETURN_IF_ERROR(LaunchStatus("SumSquaresPartialKernel"));
  SumSquaresFinalKernel<<<1, kThreads, 0, ctx.stream>>>(partials, blocks, sum_sq);
  return LaunchStatus("SumSquaresFinalKernel");
}

}  // namespace ftd::cuda
