// Nf4MatmulCpu / Nf4MatmulBackwardCpu: the linear layer over a frozen NF4 weight (nf4_weight.h), on the tile loop of
// frozen_matmul.h (W decoded a tile at a time into per-thread fp32 scratch, each tile an sgemm); this file brings
// the NF4 decoder.
//
// Exactness: decoding is the one fp32 product code * absmax that model/quant's DequantizeNf4 makes, so a tile
// equals that slice of the dequantised W, and the result equals "DequantizeNf4, then Matmul" as frozen_matmul.h
// explains (nf4_matmul_test checks it).
#include <algorithm>
#include <cstdint>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/frozen_matmul.h"
#include "kernels/nf4_weight.h"

namespace ftd::cpu {
namespace {

// Values per forward decoder call: 64 blocks, few enough table rebuilds, many enough chunks for the threads.
constexpr int64_t kChunk = 64 * kNf4WeightBlockSize;

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

}  // namespace

absl::Status Nf4MatmulCpu(const Nf4Weight& w, int64_t m, float alpha, const float* x, float beta, float* y,
                          int64_t tile_floats) {
  const auto decode = [&w](int64_t begin, int64_t count, float* dst) { DecodeRange(w, begin, count, dst); };
  frozen::Forward(decode, w.out, w.in, kChunk, m, alpha, x, beta, y, tile_floats);
  return absl::OkStatus();
}

absl::Status Nf4MatmulBackwardCpu(const Nf4Weight& w, int64_t m, float alpha, const float* dy, float* dx,
                                  GradMode mode, int64_t tile_floats) {
  const auto decode = [&w](int64_t begin, int64_t count, float* dst) { DecodeRange(w, begin, count, dst); };
  frozen::Backward(decode, w.out, w.in, m, alpha, dy, mode == GradMode::kAccumulate ? 1.0f : 0.0f, dx, tile_floats);
  return absl::OkStatus();
}

}  // namespace ftd::cpu
