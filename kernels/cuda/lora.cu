// LoraForwardCuda / LoraBackwardCuda: the PEFT LoRA branch y += scale * (x_d @ A^T) @ B^T as LoraForwardCpu computes
// it, keeping xa = x_d @ A^T (rows, rank) for the backward. Every product is an sgemm (RowMajorGemm); the backward's
// dropout mask is applied by one elementwise kernel over a bounded row panel of d x_d in scratch.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status_macros.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launch.h"

namespace ftd::cuda {
namespace {

// Floats of d x_d held at once (64 MiB): rows x in can be far larger than the branch's own (rows, rank) tensors.
constexpr int64_t kPanelFloats = int64_t{16} << 20;

// Scratch regions start on 256-byte boundaries, as cuBLAS prefers its operands aligned.
constexpr int64_t kAlignFloats = 64;

// dx (n) += keep_mask (n) * dxd (n).
__global__ void MaskedAddKernel(float* __restrict__ dx, const float* __restrict__ keep_mask,
                                const float* __restrict__ dxd, int64_t n) {
  for (int64_t i = GridStart(); i < n; i += GridStep()) dx[i] += keep_mask[i] * dxd[i];
}

}  // namespace

absl::Status LoraForwardCuda(const CudaContext& ctx, const LoraShape& s, const float* x_d, const float* a,
                             const float* b, float scale, float* xa, float* y) {
  // xa (rows, rank) = x_d (rows, in) @ A^T (in, rank).
  RETURN_IF_ERROR(RowMajorGemm(ctx, false, true, s.rows, s.rank, s.in, 1.0f, x_d, 0, 0, a, 0, 0, 0.0f, xa, 0, 0));
  // y (rows, out) += scale * xa (rows, rank) @ B^T (rank, out).
  return RowMajorGemm(ctx, false, true, s.rows, s.out, s.rank, scale, xa, 0, 0, b, 0, 0, 1.0f, y, 0, 0);
}

absl::Status LoraBackwardCuda(const CudaContext& ctx, const LoraShape& s, const float* x_d, const float* keep_mask,
                              const float* a, const float* b, const float* xa, float scale, const float* dy,
                              float* da, float* db, float* dx) {
  // One scratch request for both regions (a second call would invalidate the first): dxa (rows, rank), then, with a
  // mask, a panel of d x_d (panel_rows, in).
  const bool masked = dx != nullptr && keep_mask != nullptr;
  const int64_t dxa_floats = (s.rows * s.rank + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
  const int64_t panel_rows = std::clamp<int64_t>(kPanelFloats / s.in, 1, s.rows);
  const int64_t scratch_floats = dxa_floats + (masked ? panel_rows * s.in : 0);
  ASSIGN_OR_RETURN(void* scratch, ctx.scratch(scratch_floats * static_cast<int64_t>(sizeof(float))));
  float* dxa = static_cast<float*>(scratch);  // (rows, rank)
  float* dxd = dxa + dxa_floats;              // (panel_rows, in), only when masked

  // dB (out, rank) += scale * dy^T (out, rows) @ xa (rows, rank).
  RETURN_IF_ERROR(RowMajorGemm(ctx, true, false, s.out, s.rank, s.rows, scale, dy, 0, 0, xa, 0, 0, 1.0f, db, 0, 0));
  // dxa (rows, rank) = scale * dy (rows, out) @ B (out, rank).
  RETURN_IF_ERROR(RowMajorGemm(ctx, false, false, s.rows, s.rank, s.out, scale, dy, 0, 0, b, 0, 0, 0.0f, dxa, 0, 0));
  // dA (rank, in) += dxa^T (rank, rows) @ x_d (rows, in): the transpose of the CPU's dA^T = x_d^T @ dxa, the same sums.
  RETURN_IF_ERROR(RowMajorGemm(ctx, true, false, s.rank, s.in, s.rows, 1.0f, dxa, 0, 0, x_d, 0, 0, 1.0f, da, 0, 0));
  if (dx == nullptr) return absl::OkStatus();
  if (!masked) {
    // dx (rows, in) += dxa (rows, rank) @ A (rank, in).
    return RowMajorGemm(ctx, false, false, s.rows, s.in, s.rank, 1.0f, dxa, 0, 0, a, 0, 0, 1.0f, dx, 0, 0);
  }
  for (int64_t r0 = 0; r0 < s.rows; r0 += panel_rows) {
    const int64_t n = std::min(panel_rows, s.rows - r0);
    // d x_d rows [r0, r0 + n) (n, in) = dxa rows (n, rank) @ A (rank, in); then dx += keep_mask * d x_d there.
    RETURN_IF_ERROR(
        RowMajorGemm(ctx, false, false, n, s.in, s.rank, 1.0f, dxa + r0 * s.rank, 0, 0, a, 0, 0, 0.0f, dxd, 0, 0));
    const int64_t count = n * s.in;
    const int64_t offset = r0 * s.in;
    MaskedAddKernel<<<GridFor(count), kThreads, 0, ctx.stream>>>(dx + offset, keep_mask + offset, dxd, count);
    RETURN_IF_ERROR(LaunchStatus("MaskedAddKernel"));
  }
  return absl::OkStatus();
}

}  // namespace ftd::cuda
