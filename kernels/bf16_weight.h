// The view of a frozen linear weight stored as bfloat16 that the Bf16Matmul ops read (a LoRA run's base weights at
// half the bytes of fp32, and what tensor cores take). bf16 is the upper half of an fp32's bits, so widening it is
// exact: a bf16 weight is the fp32 weight rounded once (to nearest even, model/dtype's F32ToBf16) when loaded.
#pragma once

#include <cstdint>

namespace ftd {

// W (out, in), row-major, one bf16 (raw bits) per element. A view: it owns nothing, and its pointer is a device
// pointer of the backend it is passed to.
struct Bf16Weight {
  const uint16_t* bits = nullptr;  // (out * in)
  int64_t out = 0;
  int64_t in = 0;
};

}  // namespace ftd
