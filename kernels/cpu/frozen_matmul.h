// The tile loop shared by the CPU linear ops over a frozen, compressed weight (nf4_matmul.cc, bf16_matmul.cc;
// internal to kernels/cpu): W (out, in) is never widened whole, only a tile at a time into a per-thread fp32 scratch
// of at most tile_floats, each tile then one sgemm. A format brings only its decoder, so every format inherits the
// same exactness argument and the same tests of the tiling.
//
// Exactness: the forward tiles along `out` (a panel of W's rows) and the backward along `in` (a panel of W's
// columns), so each tile computes whole output columns with the full reduction over the unsplit k. If the decoder
// is exactly the format's own "widen W whole" for each value, one tile equals "widen, then Matmul" bit for bit (the
// same sgemm call); several tiles match it up to summation order, as far as OpenBLAS sums a column differently when
// fewer columns share its call.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/gemm.h"

namespace ftd::cpu::frozen {

// Decoding is a load or a table read per value, so it is worth threading only over a sizeable tile.
inline constexpr int64_t kParallelDecode = int64_t{1} << 15;

// The calling thread's decode scratch, grown to `floats` and kept for its next call (ops on a backend are issued
// from one thread, so this is one tile per training loop, not per core). Shared by every format: one buffer, not
// one per format.
inline float* Scratch(int64_t floats) {
  thread_local std::vector<float> scratch;
  if (static_cast<int64_t>(scratch.size()) < floats) scratch.resize(static_cast<size_t>(floats));
  return scratch.data();
}

// A Decoder is any callable `void(int64_t begin, int64_t count, float* dst)` that sets dst[0, count) to the
// flattened W's values [begin, begin + count) (any begin and count; it may be called from several OpenMP threads on
// disjoint ranges). `chunk` is how many values the forward hands one decoder call (its unit of threading): a format
// with per-block set-up (NF4's table) wants it a multiple of its block.

// y (m, out) = alpha * x (m, in) @ W^T + beta * y, W (out, in) given by `decode`.
template <typename Decoder>
void Forward(const Decoder& decode, int64_t out, int64_t in, int64_t chunk, int64_t m, float alpha, const float* x,
             float beta, float* y, int64_t tile_floats) {
  // Rows of W per tile: the tile (rows, in) is the contiguous slice [o0 * in, (o0 + rows) * in) of the values.
  const int64_t rows = std::clamp<int64_t>(tile_floats / in, 1, out);
  float* tile = Scratch(rows * in);  // (rows, in)
  for (int64_t o0 = 0; o0 < out; o0 += rows) {
    const int64_t n = std::min(rows, out - o0);
    const int64_t begin = o0 * in;
    const int64_t count = n * in;
    const int64_t chunks = (count + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (count >= kParallelDecode)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t off = c * chunk;
      decode(begin + off, std::min(chunk, count - off), tile + off);
    }
    // y[:, o0 : o0 + n] (m, n; row stride out) = alpha * x (m, in) @ tile^T (in, n) + beta * y[...].
    Gemm(false, true, m, n, in, alpha, x, tile, beta, y + o0, /*ldx=*/0, /*ldy=*/0, /*ldz=*/out);
  }
}

// dx (m, in) = alpha * dy (m, out) @ W + beta * dx, W (out, in) given by `decode`.
template <typename Decoder>
void Backward(const Decoder& decode, int64_t out, int64_t in, int64_t m, float alpha, const float* dy, float beta,
              float* dx, int64_t tile_floats) {
  // Columns of W per panel (out, cols): whole columns keep each dx element's sum over `out` in one sgemm.
  const int64_t cols = std::clamp<int64_t>(tile_floats / out, 1, in);
  float* panel = Scratch(out * cols);  // (out, cols)
  for (int64_t j0 = 0; j0 < in; j0 += cols) {
    const int64_t n = std::min(cols, in - j0);
#pragma omp parallel for schedule(static) if (out * n >= kParallelDecode)
    for (int64_t o = 0; o < out; ++o) decode(o * in + j0, n, panel + o * n);
    // dx[:, j0 : j0 + n] (m, n; row stride in) = alpha * dy (m, out) @ panel (out, n) + beta * dx[...].
    Gemm(false, false, m, n, out, alpha, dy, panel, beta, dx + j0, /*ldx=*/0, /*ldy=*/0, /*ldz=*/in);
  }
}

}  // namespace ftd::cpu::frozen
