// The small elementwise ops the model needs (residual add, gradient add-into, dropout mask multiply, scale, copy,
// fill), each one grid-stride kernel over n fp32 values (Copy is a device-to-device cudaMemcpyAsync).
#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/launch.h"

namespace ftd::cuda {
namespace {

// No __restrict__ here: out may alias a or b (an in-place residual add), which these loops handle, as each element is
// read before it is written by the same thread.
__global__ void AddKernel(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = GridStart(); i < n; i += GridStep()) out[i] = a[i] + b[i];
}

__global__ void AddIntoKernel(float* dst, const float* src, int64_t n) {
  for (int64_t i = GridStart(); i < n; i += GridStep()) dst[i] += src[i];
}

__global__ void MulKernel(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = GridStart(); i < n; i += GridStep()) out[i] = a[i] * b[i];
}

__global__ void ScaleKernel(float* x, float alpha, int64_t n) {
  for (int64_t i = GridStart(); i < n; i += GridStep()) x[i] *= alpha;
}

__global__ void FillKernel(float* x, float value, int64_t n) {
  for (int64_t i = GridStart(); i < n; i += GridStep()) x[i] = value;
}

}  // namespace

absl::Status AddCuda(const CudaContext& ctx, const float* a, const float* b, float* out, int64_t n) {
  if (n == 0) return absl::OkStatus();
  AddKernel<<<GridFor(n), kThreads, 0, ctx.stream>>>(a, b, out, n);
  return LaunchStatus("AddKernel");
}

absl::Status AddIntoCuda(const CudaContext& ctx, float* dst, const float* src, int64_t n) {
  if (n == 0) return absl::OkStatus();
  AddIntoKernel<<<GridFor(n), kThreads, 0, ctx.stream>>>(dst, src, n);
  return LaunchStatus("AddIntoKernel");
}

absl::Status MulCuda(const CudaContext& ctx, const float* a, const float* b, float* out, int64_t n) {
  if (n == 0) return absl::OkStatus();
  MulKernel<<<GridFor(n), kThreads, 0, ctx.stream>>>(a, b, out, n);
  return LaunchStatus("MulKernel");
}

absl::Status ScaleCuda(const CudaContext& ctx, float* x, float alpha, int64_t n) {
  if (n == 0) return absl::OkStatus();
  ScaleKernel<<<GridFor(n), kThreads, 0, ctx.stream>>>(x, alpha, n);
  return LaunchStatus("ScaleKernel");
}

absl::Status CopyCuda(const CudaContext& ctx, float* dst, const float* src, int64_t n) {
  // CopyCpu is a memmove; the callers copy between distinct buffers or onto themselves, so only the latter needs care
  // (cudaMemcpy of overlapping ranges is undefined).
  if (n == 0 || dst == src) return absl::OkStatus();
  return FromCuda(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToDevice,
                                  ctx.stream),
                  "cudaMemcpyAsync (copy)");
}

absl::Status FillCuda(const CudaContext& ctx, float* x, float value, int64_t n) {
  if (n == 0) return absl::OkStatus();
  FillKernel<<<GridFor(n), kThreads, 0, ctx.stream>>>(x, value, n);
  return LaunchStatus("FillKernel");
}

}  // namespace ftd::cuda
