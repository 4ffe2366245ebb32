// RopeForwardCuda / RopeBackwardCuda: HF rotate_half rotary embedding on (B, T, H, D), the pair (i, i + D/2) of
// every head turned by the angle of row positions[b, t] (or t) of the (table_len, D/2) tables, as
// kernels/cpu/rope.cc; the backward turns by the negative angle. One thread per pair.
#include <math_constants.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/cuda_ops.h"

namespace ftd::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;  // Grid-stride beyond this (gridDim.x allows 2^31 - 1).

// sign = +1 rotates by +angle (forward), -1 by -angle (backward). out may equal in: a thread reads both elements
// of its pair before writing them, and no other thread touches that pair.
//
// The CPU backend rejects a position outside [0, table_len) with INVALID_ARGUMENT before touching anything; here a
// check would need a device-to-host copy (a synchronisation), so such a head's row is written as NaN instead: the
// loss goes NaN rather than training on a silently wrong (or out-of-bounds) angle.
__global__ void __launch_bounds__(kThreads)
    RopeKernel(const float* in, const float* cos, const float* sin, const int32_t* positions, int64_t rows,
               int64_t seq, int64_t heads, int64_t half, int64_t table_len, float sign, float* out) {
  const int64_t pairs = rows * heads * half;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < pairs;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = idx % half;
    const int64_t head_row = idx / half;  // bt * heads + h
    const int64_t bt = head_row / heads;
    const int64_t pos = positions != nullptr ? positions[bt] : bt % seq;
    const int64_t base = head_row * 2 * half;
    if (pos < 0 || pos >= table_len) {
      out[base + i] = CUDART_NAN_F;
      out[base + i + half] = CUDART_NAN_F;
      continue;
    }
    const float x1 = in[base + i];
    const float x2 = in[base + i + half];
    const float c = cos[pos * half + i];
    const float si = sign * sin[pos * half + i];
    // out = x * cos + rotate_half(x) * sin, rotate_half(x) = (-x2, x1).
    out[base + i] = x1 * c - x2 * si;
    out[base + i + half] = x2 * c + x1 * si;
  }
}

absl::Status Rotate(const CudaContext& ctx, const RopeShape& s, const float* in, const float* cos, const float* sin,
                    const int32_t* positions, float sign, float* out) {
  const int64_t half = s.head_dim / 2;
  const int64_t rows = s.batch * s.seq;
  const int64_t pairs = rows * s.heads * half;
  if (pairs <= 0) return absl::OkStatus();
  const auto blocks = static_cast<unsigned int>(std::min((pairs + kThreads - 1) / kThreads, kMaxBlocks));
  RopeKernel<<<blocks, kThreads, 0, ctx.stream>>>(in, cos, sin, positions, rows, s.seq, s.heads, half, s.table_len,
                                                  sign, out);
  return LaunchStatus("RopeKernel");
}

}  // namespace

absl::Status RopeForwardCuda(const CudaContext& ctx, const RopeShape& s, const float* x, const float* cos,
                             const float* sin, const int32_t* positions, float* out) {
  return Rotate(ctx, s, x, cos, sin, positions, 1.0f, out);
}

absl::Status RopeBackwardCuda(const CudaContext& ctx, const RopeShape& s, const float* dout, const float* cos,
                              const float* sin, const int32_t* positions, float* dx) {
  return Rotate(ctx, s, dout, cos, sin, positions, -1.0f, dx);
}

}  // namespace ftd::cuda
