// RmsNormForwardCuda / RmsNormBackwardCuda: HF LlamaRMSNorm in fp32 on the GPU, one block per row, replaying
// kernels/cpu/rmsnorm.cc's arithmetic (sums of squares in double, the backward's row maths in double) so the two
// backends agree to fp32 rounding. dweight is summed over rows in two deterministic stages, no atomics.
#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace ftd::cuda {
namespace {

constexpr int kThreads = 256;  // A multiple of the warp size: BlockSum relies on whole warps.
// Row loops are grid-stride, so the grid is capped well below the 2^31 - 1 limit of gridDim.x.
constexpr int64_t kMaxBlocks = int64_t{1} << 20;
// dweight's first stage splits the rows into at most this many chunks, each of at least kMinChunkRows rows: enough
// blocks to fill the GPU, and a (chunks, dim) double partial buffer of at most 2 MiB per 1024 columns.
constexpr int64_t kMaxChunks = 256;
constexpr int64_t kMinChunkRows = 32;

unsigned int GridFor(int64_t blocks) { return static_cast<unsigned int>(std::clamp<int64_t>(blocks, 1, kMaxBlocks)); }


// y = (x * rs) * w with rs = 1/sqrt(float(ss / dim) + eps) in fp32, ss in double, as RmsNormRowKernel. y may be x:
// every element is read by the thread that writes it, after the row's sum is complete.
__global__ void __launch_bounds__(kThreads)
    RmsNormForwardKernel(const float* x, const float* weight, float eps, float* y, float* rstd, int64_t rows,
                         int64_t dim) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    double ss = 0.0;
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
      const double v = xr[c];
      ss += v * v;
    }
    ss = BlockSum(ss);
    const float var = static_cast<float>(ss / static_cast<double>(dim));
    const float rs = 1.0f / sqrtf(var + eps);
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) yr[c] = (xr[c] * rs) * weight[c];
    if (threadIdx.x == 0) rstd[r] = rs;
  }
}

// dx = rs w dy - k x with k = rs^3 sum(dy w x) / dim, all in double as RmsNormBackwardRowKernel; rs is recomputed
// in double (not read from the forward's fp32 rstd) because the two terms nearly cancel when mean(x^2) is small
// against eps. row_rs (rows), when not null, receives rs for the dweight stages.
__global__ void __launch_bounds__(kThreads)
    RmsNormBackwardRowKernel(const float* x, const float* weight, float eps, const float* dy, float* dx,
                             double* row_rs, int64_t rows, int64_t dim) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * dim;
    const float* gr = dy + r * dim;
    float* dxr = dx + r * dim;
    double ss = 0.0;
    double dot = 0.0;
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
      const double xv = xr[c];
      ss += xv * xv;
      dot += static_cast<double>(gr[c]) * weight[c] * xv;
    }
    ss = BlockSum(ss);
    dot = BlockSum(dot);
    const double rs = 1.0 / sqrt(ss / static_cast<double>(dim) + static_cast<double>(eps));
    const double k = rs * rs * rs * dot / static_cast<double>(dim);
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
      dxr[c] = static_cast<float>(rs * weight[c] * gr[c] - k * xr[c]);
    }
    if (row_rs != nullptr && threadIdx.x == 0) row_rs[r] = rs;
  }
}

// Stage 1 of dweight: partial (chunks, dim)[k, c] = sum over chunk k's rows of dy[r, c] x[r, c] rs[r], in double.
// A thread owns one column, so a warp reads 32 consecutive floats of a row (coalesced).
__global__ void __launch_bounds__(kThreads)
    RmsNormDweightPartialKernel(const float* x, const float* dy, const double* row_rs, int64_t rows, int64_t dim,
                                int64_t chunk_rows, double* partial) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= dim) return;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * chunk_rows;
  const int64_t r1 = min(rows, r0 + chunk_rows);
  double acc = 0.0;
  for (int64_t r = r0; r < r1; ++r) acc += static_cast<double>(dy[r * dim + c]) * x[r * dim + c] * row_rs[r];
  partial[static_cast<int64_t>(blockIdx.y) * dim + c] = acc;
}

// Stage 2 of dweight: dweight[c] += the chunks' partials, summed in a fixed order (run to run identical).
__global__ void __launch_bounds__(kThreads)
    RmsNormDweightReduceKernel(const double* partial, int64_t chunks, int64_t dim, float* dweight) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < dim;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double s = 0.0;
    for (int64_t k = 0; k < chunks; ++k) s += partial[k * dim + c];
    dweight[c] += static_cast<float>(s);
  }
}

}  // namespace

absl::Status RmsNormForwardCuda(const CudaContext& ctx, const float* x, const float* weight, float eps, float* y,
                                float* rstd, int64_t rows, int64_t dim) {
  if (rows <= 0 || dim <= 0) return absl::OkStatus();
  RmsNormForwardKernel<<<GridFor(rows), kThreads, 0, ctx.stream>>>(x, weight, eps, y, rstd, rows, dim);
  return LaunchStatus("RmsNormForwardKernel");
}

// dx must not alias x or dy: the dweight stages read both after the row kernel has written dx (kernels.h allows no
// aliasing here, and the model passes separate buffers).
absl::Status RmsNormBackwardCuda(const CudaContext& ctx, const float* x, const float* weight, const float* rstd,
                                 float eps, const float* dy, float* dx, float* dweight, int64_t rows, int64_t dim) {
  (void)rstd;  // Recomputed in double, as the CPU backend does (see RmsNormBackwardRowKernel).
  if (rows <= 0 || dim <= 0) return absl::OkStatus();
  if (dweight == nullptr) {
    RmsNormBackwardRowKernel<<<GridFor(rows), kThreads, 0, ctx.stream>>>(x, weight, eps, dy, dx, nullptr, rows,
                                                                          dim);
    return LaunchStatus("RmsNormBackwardRowKernel");
  }
  const int64_t chunk_rows = std::max(kMinChunkRows, (rows + kMaxChunks - 1) / kMaxChunks);
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;  // <= kMaxChunks, each chunk non-empty.
  // Scratch: row_rs (rows) then partial (chunks, dim), both double.
  absl::StatusOr<void*> scratch = ctx.scratch((rows + chunks * dim) * static_cast<int64_t>(sizeof(double)));
  if (!scratch.ok()) return scratch.status();
  double* row_rs = static_cast<double*>(*scratch);
  double* partial = row_rs + rows;

  RmsNormBackwardRowKernel<<<GridFor(rows), kThreads, 0, ctx.stream>>>(x, weight, eps, dy, dx, row_rs, rows, dim);
  if (absl::Status s = LaunchStatus("RmsNormBackwardRowKernel"); !s.ok()) return s;

  const dim3 partial_grid(static_cast<unsigned int>((dim + kThreads - 1) / kThreads),
                          static_cast<unsigned int>(chunks));
  RmsNormDweightPartialKernel<<<partial_grid, kThreads, 0, ctx.stream>>>(x, dy, row_rs, rows, dim, chunk_rows,
                                                                          partial);
  if (absl::Status s = LaunchStatus("RmsNormDweightPartialKernel"); !s.ok()) return s;

  RmsNormDweightReduceKernel<<<GridFor((dim + kThreads - 1) / kThreads), kThreads, 0, ctx.stream>>>(partial, chunks,
                                                                                                     dim, dweight);
  return LaunchStatus("RmsNormDweightReduceKernel");
}

}  // namespace ftd::cuda
