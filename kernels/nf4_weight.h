// The view of a frozen NF4-quantised linear weight that the Nf4Matmul ops read (QLoRA's base weight), and the NF4
// code table they decode with. The kernel-side twin of model/quant/nf4.h, which kernels/ must not include (model
// depends on kernels, not the reverse); tests/kernels/nf4_matmul_test pins the table to that file's Nf4Code().
#pragma once

#include <array>
#include <cstdint>

namespace ftd {

// Values per absmax, as model/quant's kNf4BlockSize (bitsandbytes blocksize=64).
inline constexpr int64_t kNf4WeightBlockSize = 64;

// The 16 NF4 code values, ascending (bitsandbytes get_4bit_type("nf4") as fp32); code 7 is 0.
inline constexpr std::array<float, 16> kNf4WeightCode = {
    -1.0f,           -0x1.647362p-1f, -0x1.0cd66p-1f, -0x1.94654p-2f, -0x1.23449ap-2f, -0x1.7a6a7ep-3f,
    -0x1.74f0e2p-4f, 0.0f,            0x1.45f5fep-4f, 0x1.4995c6p-3f, 0x1.f809bap-3f,  0x1.5a0674p-2f,
    0x1.c3497p-2f,   0x1.200f56p-1f,  0x1.722766p-1f, 1.0f};

// W (out, in), row-major, stored as model/quant's Nf4Tensor stores it: element i of the flattened W (i = o * in + j)
// is kNf4WeightCode[nibble i] * absmax[i / 64], nibble i being the high half of packed[i / 2] for even i and the low
// half for odd i. Blocks run along the flattened values, so a row whose length is not a multiple of 64 shares its
// first and last blocks with its neighbours. Double-quantised statistics are restored to fp32 once, at load
// (model/quant's Nf4BlockAbsmax), so the kernels see only the per-block fp32 absmax. A view: it owns nothing, and
// its pointers are device pointers of the backend it is passed to.
struct Nf4Weight {
  const uint8_t* packed = nullptr;  // (ceil(out * in / 2)) two codes a byte, first in the high nibble
  const float* absmax = nullptr;    // (ceil(out * in / 64))
  int64_t out = 0;
  int64_t in = 0;
};

}  // namespace ftd
