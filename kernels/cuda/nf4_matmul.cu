// Nf4MatmulCuda / Nf4MatmulBackwardCuda: the linear layer over a frozen NF4 weight (nf4_weight.h), as
// kernels/cpu/nf4_matmul.cc computes it. W is never decoded whole: a panel of it at a time (rows of W forward,
// columns backward, so each sgemm keeps the full reduction) goes into fp32 scratch of at most kPanelFloats, then one
// sgemm multiplies it. Each decoded value is the one fp32 product code * absmax, so a panel equals that slice of
// model/quant's DequantizeNf4.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "common/status_macros.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launch.h"
#include "kernels/nf4_weight.h"

namespace ftd::cuda {
namespace {

// Floats of decoded W per panel (64 MiB): a 4096 x 4096 weight decodes in one panel, a larger one in several.
constexpr int64_t kPanelFloats = int64_t{16} << 20;

// kNf4WeightCode in constant memory (the 16 lanes of a warp that read one code broadcast), copied from the host
// table at compile time so the two cannot drift.
__constant__ float kCode[16] = {kNf4WeightCode[0],  kNf4WeightCode[1],  kNf4WeightCode[2],  kNf4WeightCode[3],
                                kNf4WeightCode[4],  kNf4WeightCode[5],  kNf4WeightCode[6],  kNf4WeightCode[7],
                                kNf4WeightCode[8],  kNf4WeightCode[9],  kNf4WeightCode[10], kNf4WeightCode[11],
                                kNf4WeightCode[12], kNf4WeightCode[13], kNf4WeightCode[14], kNf4WeightCode[15]};

// Element i of the flattened W: code[nibble i] * absmax[i / 64], nibble i the high half of packed[i / 2] for even i
// and the low half for odd i.
__device__ __forceinline__ float DecodeAt(const uint8_t* __restrict__ packed, const float* __restrict__ absmax,
                                          int64_t i) {
  const uint8_t byte = packed[i / 2];
  const int code = (i % 2 == 0) ? (byte >> 4) : (byte & 0x0F);
  return kCode[code] * absmax[i / kNf4WeightBlockSize];
}

// out (count) = the flattened W's values [begin, begin + count): the forward's panel of whole rows of W.
__global__ void DecodeNf4RangeKernel(const uint8_t* __restrict__ packed, const float* __restrict__ absmax,
                                     int64_t begin, int64_t count, float* __restrict__ out) {
  for (int64_t t = GridStart(); t < count; t += GridStep()) out[t] = DecodeAt(packed, absmax, begin + t);
}

// panel (out, cols) = W[:, j0 : j0 + cols] of W (out, in): the backward's panel of whole columns of W.
__global__ void DecodeNf4ColumnsKernel(const uint8_t* __restrict__ packed, const float* __restrict__ absmax,
                                       int64_t out, int64_t in, int64_t j0, int64_t cols, float* __restrict__ panel) {
  const int64_t count = out * cols;
  for (int64_t t = GridStart(); t < count; t += GridStep()) {
    const int64_t o = t / cols;
    panel[t] = DecodeAt(packed, absmax, o * in + j0 + (t - o * cols));
  }
}

}  // namespace

absl::Status Nf4MatmulCuda(const CudaContext& ctx, const Nf4Weight& w, int64_t m, float alpha, const float* x,
                           float beta, float* y) {
  // Rows of W per panel: the panel (rows, in) is the contiguous slice [o0 * in, (o0 + rows) * in) of the values.
  const int64_t rows = std::clamp<int64_t>(kPanelFloats / w.in, 1, w.out);
  ASSIGN_OR_RETURN(void* scratch, ctx.scratch(rows * w.in * static_cast<int64_t>(sizeof(float))));
  float* panel = static_cast<float*>(scratch);  // (rows, in)
  for (int64_t o0 = 0; o0 < w.out; o0 += rows) {
    const int64_t n = std::min(rows, w.out - o0);
    // The stream orders this decode after the previous panel's sgemm, which reads the same scratch.
    DecodeNf4RangeKernel<<<GridFor(n * w.in), kThreads, 0, ctx.stream>>>(w.packed, w.absmax, o0 * w.in, n * w.in,
                                                                          panel);
    RETURN_IF_ERROR(LaunchStatus("DecodeNf4RangeKernel"));
    // y[:, o0 : o0 + n] (m, n; row stride out) = alpha * x (m, in) @ panel^T (in, n) + beta * y[...].
    RETURN_IF_ERROR(RowMajorGemm(ctx, false, true, m, n, w.in, alpha, x, w.in, 0, panel, w.in, 0, beta, y + o0, w.out,
                                 0));
  }
  return absl::OkStatus();
}

absl::Status Nf4MatmulBackwardCuda(const CudaContext& ctx, const Nf4Weight& w, int64_t m, float alpha,
                                   const float* dy, float* dx, GradMode mode) {
  const float beta = mode == GradMode::kAccumulate ? 1.0f : 0.0f;
  // Columns of W per panel (out, cols): whole columns keep each dx element's sum over `out` in one sgemm.
  const int64_t cols = std::clamp<int64_t>(kPanelFloats / w.out, 1, w.in);
  ASSIGN_OR_RETURN(void* scratch, ctx.scratch(w.out * cols * static_cast<int64_t>(sizeof(float))));
  float* panel = static_cast<float*>(scratch);  // (out, cols)
  for (int64_t j0 = 0; j0 < w.in; j0 += cols) {
    const int64_t n = std::min(cols, w.in - j0);
    // The stream orders this decode after the previous panel's sgemm, which reads the same scratch.
    DecodeNf4ColumnsKernel<<<GridFor(w.out * n), kThreads, 0, ctx.stream>>>(w.packed, w.absmax, w.out, w.in, j0, n,
                                                                            panel);
    RETURN_IF_ERROR(LaunchStatus("DecodeNf4ColumnsKernel"));
    // dx[:, j0 : j0 + n] (m, n; row stride in) = alpha * dy (m, out) @ panel (out, n) + beta * dx[...].
    RETURN_IF_ERROR(RowMajorGemm(ctx, false, false, m, n, w.out, alpha, dy, w.out, 0, panel, n, 0, beta, dx + j0, w.in,
                                 0));
  }
  return absl::OkStatus();
}

}  // namespace ftd::cuda
