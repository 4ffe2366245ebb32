// Nf4MatmulCpu / Nf4MatmulBackwardCpu: the linear layer over a frozen NF4 weight (nf4_weight.h). W is never decoded
// whole: a tile of it at a time goes into a per-thread fp32 scratch of at most tile_floats (OpenMP over the tile),
// then one sgemm (OpenBLAS's own OpenMP threads, one after the other, so the two never nest) multiplies it.
//
// Exactness: the forward tiles along `out` (a panel of W's rows) and the backward along `in` (a panel of W's
// columns), so each tile computes whole output columns with the full reduction over the unsplit k. Decoding is
// the one fp32 product code * absmax that model/quant's DequantizeNf4 makes, so the tile equals that slice of the
// dequantised W; the result then equals "DequantizeNf4, then Matmul" bit for bit as far as OpenBLAS gives a
// column the same sum however many columns share its call (nf4_matmul_test checks that it does).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/gemm.h"
#include "kernels/nf4_weight.h"

namespace ftd::cpu {
namespace {

// Decoding is one table read per value, so it is worth threading only over a sizeable tile.
constexpr int64_t kParallelDecode = int64_t{1} << 15;

// out[0, count) = the flattened W's values [begin, begin + count).
void DecodeRange(const Nf4Weight& w, int64_t begin, int64_t count, float* out) {
  int64_t i = begin;
  const int64_t end = begin + count;
  while (i < end) {
    const int64_t block = i / kNf4WeightBlockSize;
    const int64_t block_end = std::min(end, (block + 1) * kNf4WeightBlockSize);
    // The block's 16 decoded values: the same fp32 products code * absmax as DequantizeNf4, made once per block.
    float lut[16];
    const float absmax = w.absmax[block];
    for (int c = 0; c < 16; ++c) lut[c] = kNf4WeightCode[c] * absmax;
    if (i % 2 != 0) *out++ = lut[w.packed[i++ / 2] & 0x0F];  // a low nibble whose high one lies before `begin`
    for (; i + 1 < block_end; i += 2) {  // blocks start at even i, so pairs stay within bytes
      const uint8_t byte = w.packed[i / 2];
      *out++ = lut[byte >> 4];
      *out++ = lut[byte & 0x0F];
    }
    if (i < block_end) *out++ = lut[w.packed[i++ / 2] >> 4];  // a high nibble whose low one lies past `end`
  }
}

// The calling thread's decode scratch, grown to `floats` and kept for its next call (ops on a backend are issued
// from one thread, so this is one tile per training loop, not per core).
float* Scratch(int64_t floats) {
  thread_local std::vector<float> scratch;
  if (static_cast<int64_t>(scratch.size()) < floats) scratch.resize(static_cast<size_t>(floats));
  return scratch.data();
}

}  // namespace

absl::Status Nf4MatmulCpu(const Nf4Weight& w, int64_t m, float alpha, const float* x, float beta, float* y,
                          int64_t tile_floats) {
  // Rows of W per tile: the tile (rows, in) is the contiguous slice [o0 * in, (o0 + rows) * in) of the values.
  const int64_t rows = std::clamp<int64_t>(tile_floats / w.in, 1, w.out);
  float* tile = Scratch(rows * w.in);  // (rows, in)
  for (int64_t o0 = 0; o0 < w.out; o0 += rows) {
    const int64_t n = std::min(rows, w.out - o0);
    const int64_t begin = o0 * w.in;
    const int64_t count = n * w.in;
    // Chunks of 64 blocks' worth of values: few enough table rebuilds, many enough chunks for the threads.
    constexpr int64_t kChunk = 64 * kNf4WeightBlockSize;
    const int64_t chunks = (count + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (count >= kParallelDecode)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t off = c * kChunk;
      DecodeRange(w, begin + off, std::min(kChunk, count - off), tile + off);
    }
    // y[:, o0 : o0 + n] (m, n; row stride out) = alpha * x (m, in) @ tile^T (in, n) + beta * y[...].
    Gemm(false, true, m, n, w.in, alpha, x, tile, beta, y + o0, /*ldx=*/0, /*ldy=*/0, /*ldz=*/w.out);
  }
  return absl::OkStatus();
}

absl::Status Nf4MatmulBackwardCpu(const Nf4Weight& w, int64_t m, float alpha, const float* dy, float* dx,
                                  GradMode mode, int64_t tile_floats) {
  const float beta = mode == GradMode::kAccumulate ? 1.0f : 0.0f;
  // Columns of W per panel (out, cols): whole columns keep each dx element's sum over `out` in one sgemm.
  const int64_t cols = std::clamp<int64_t>(tile_floats / w.out, 1, w.in);
  float* panel = Scratch(w.out * cols);  // (out, cols)
  for (int64_t j0 = 0; j0 < w.in; j0 += cols) {
    const int64_t n = std::min(cols, w.in - j0);
#pragma omp parallel for schedule(static) if (w.out * n >= kParallelDecode)
    for (int64_t o = 0; o < w.out; ++o) DecodeRange(w, o * w.in + j0, n, panel + o * n);
    // dx[:, j0 : j0 + n] (m, n; row stride in) = alpha * dy (m, out) @ panel (out, n) + beta * dx[...].
    Gemm(false, false, m, n, w.out, alpha, dy, panel, beta, dx + j0, /*ldx=*/0, /*ldy=*/0, /*ldz=*/w.in);
  }
  return absl::OkStatus();
}

}  // namespace ftd::cpu
