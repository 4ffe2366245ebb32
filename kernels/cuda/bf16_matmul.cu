// Bf16MatmulCuda / Bf16MatmulBackwardCuda: the linear layer over a frozen bf16 weight (bf16_weight.h) on tensor
// cores. W is already bf16 on the device and goes to cuBLAS as it is; x (or dy) is rounded to bf16 (nearest even)
// into scratch, a bounded chunk of rows at a time, and each chunk is one bf16 x bf16 -> fp32 gemm (RowMajorGemmBf16).
// Rounding the activation is the one difference from kernels/cpu/bf16_matmul.cc (fp32 x, exactly widened W), so the
// op harness holds this op to a bf16-input threshold (kernels.h).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "common/status_macros.h"
#include "kernels/bf16_weight.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launch.h"

namespace ftd::cuda {
namespace {

// bf16 values of the rounded activation per chunk (64 MiB): an (m, 4096) activation with m up to 8192 takes one
// chunk, a larger one several. Rows are independent, so chunking changes no result.
constexpr int64_t kChunkValues = int64_t{32} << 20;

// out (n) = in (n) rounded to bf16, nearest even.
__global__ void RoundToBf16Kernel(const float* __restrict__ in, int64_t n, __nv_bfloat16* __restrict__ out) {
  for (int64_t t = GridStart(); t < n; t += GridStep()) out[t] = __float2bfloat16_rn(in[t]);
}

// z (m, n_out) = alpha * a (m, k) @ op(W) + beta * z, with a fp32 rounded to bf16 a chunk of rows at a time and W
// bf16: op(W) = W^T (k = in, n_out = out) when trans_w, else W (k = out, n_out = in).
absl::Status RoundedProduct(const CudaContext& ctx, const Bf16Weight& w, bool trans_w, int64_t m, float alpha,
                            const float* a, float beta, float* z) {
  const int64_t k = trans_w ? w.in : w.out;
  const int64_t n_out = trans_w ? w.out : w.in;
  const int64_t rows = std::clamp<int64_t>(kChunkValues / k, 1, m);
  ASSIGN_OR_RETURN(void* scratch, ctx.scratch(rows * k * static_cast<int64_t>(sizeof(__nv_bfloat16))));
  __nv_bfloat16* a_bf16 = static_cast<__nv_bfloat16*>(scratch);  // (rows, k)
  const auto* w_bf16 = reinterpret_cast<const __nv_bfloat16*>(w.bits);  // (out, in): the same 16 bits per value
  for (int64_t r0 = 0; r0 < m; r0 += rows) {
    const int64_t r = std::min(rows, m - r0);
    // The stream orders this rounding after the previous chunk's gemm, which reads the same scratch.
    RoundToBf16Kernel<<<GridFor(r * k), kThreads, 0, ctx.stream>>>(a + r0 * k, r * k, a_bf16);
    RETURN_IF_ERROR(LaunchStatus("RoundToBf16Kernel"));
    // z[r0 : r0 + r, :] (r, n_out) = alpha * a_bf16 (r, k) @ op(W) (k, n_out) + beta * z[...]; W is stored
    // (out, in), row stride in either way.
    RETURN_IF_ERROR(RowMajorGemmBf16(ctx, false, trans_w, r, n_out, k, alpha, a_bf16, k, w_bf16, w.in, beta,
                                     z + r0 * n_out, n_out));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Bf16MatmulCuda(const CudaContext& ctx, const Bf16Weight& w, int64_t m, float alpha, const float* x,
                            float beta, float* y) {
  // y (m, out) = alpha * bf16(x) (m, in) @ W^T (in, out) + beta * y.
  return RoundedProduct(ctx, w, /*trans_w=*/true, m, alpha, x, beta, y);
}

absl::Status Bf16MatmulBackwardCuda(const CudaContext& ctx, const Bf16Weight& w, int64_t m, float alpha,
                                    const float* dy, float* dx, GradMode mode) {
  // dx (m, in) = alpha * bf16(dy) (m, out) @ W (out, in) + beta * dx.
  return RoundedProduct(ctx, w, /*trans_w=*/false, m, alpha, dy, mode == GradMode::kAccumulate ? 1.0f : 0.0f, dx);
}

}  // namespace ftd::cuda
