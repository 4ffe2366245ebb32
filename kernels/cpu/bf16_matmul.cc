// Bf16MatmulCpu / Bf16MatmulBackwardCpu: the linear layer over a frozen bf16 weight (bf16_weight.h), on the tile loop
// of frozen_matmul.h (W widened a tile at a time into per-thread fp32 scratch, each tile an sgemm); this file brings
// the bf16 decoder. x and dy stay fp32 (kernels.h: this backend does not round them to bf16).
//
// Exactness: widening is exact (a bf16 is the upper half of an fp32's bits), so a tile equals that slice of W in
// fp32, and the result equals "widen W whole, then Matmul" as frozen_matmul.h explains (bf16_matmul_test checks it).
#include <cstdint>
#include <cstring>

#include "kernels/bf16_weight.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/frozen_matmul.h"

namespace ftd::cpu {
namespace {

// Values per forward decoder call: no per-block set-up to amortise, so only enough per call to keep the
// threading overhead small.
constexpr int64_t kChunk = 4096;

// dst[0, count) = the flattened W's values [begin, begin + count), each bf16 placed in an fp32's upper half.
void WidenRange(const Bf16Weight& w, int64_t begin, int64_t count, float* dst) {
  const uint16_t* src = w.bits + begin;
  for (int64_t i = 0; i < count; ++i) {
    const uint32_t bits = static_cast<uint32_t>(src[i]) << 16;
    std::memcpy(&dst[i], &bits, sizeof(float));  // compilers turn this into a plain store (no aliasing through casts)
  }
}

}  // namespace

absl::Status Bf16MatmulCpu(const Bf16Weight& w, int64_t m, float alpha, const float* x, float beta, float* y,
                           int64_t tile_floats) {
  const auto decode = [&w](int64_t begin, int64_t count, float* dst) { WidenRange(w, begin, count, dst); };
  frozen::Forward(decode, w.out, w.in, kChunk, m, alpha, x, beta, y, tile_floats);
  return absl::OkStatus();
}

absl::Status Bf16MatmulBackwardCpu(const Bf16Weight& w, int64_t m, float alpha, const float* dy, float* dx,
                                   GradMode mode, int64_t tile_floats) {
  const auto decode = [&w](int64_t begin, int64_t count, float* dst) { WidenRange(w, begin, count, dst); };
  frozen::Backward(decode, w.out, w.in, m, alpha, dy, mode == GradMode::kAccumulate ? 1.0f : 0.0f, dx, tile_floats);
  return absl::OkStatus();
}

}  // namespace ftd::cpu
