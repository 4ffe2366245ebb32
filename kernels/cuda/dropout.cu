// DropoutMaskCuda: nn.Dropout's keep mask from Philox4x32-10, one counter per four elements (kernels.h gives the
// layout), one thread per counter, so the mask equals DropoutMaskCpu's bit for bit.
#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launch.h"

namespace ftd::cuda {
namespace {

// kernels/philox.h's Philox4x32 on the device (that one is host constexpr code over std::array): the same
// constants, round and 64-bit products (which nvcc lowers to mul.lo/mul.hi). Keep the two in step; the dropout
// parity test compares their masks.
__host__ __device__ __forceinline__ uint4 Philox4x32(uint4 c, uint2 k) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;  // the round multipliers
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;  // the key schedule's increments
  for (int round = 0; round < 10; ++round) {  // a constant trip count: nvcc unrolls it
    if (round > 0) {
      k.x += kWeyl0;
      k.y += kWeyl1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c.x;
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c.z;
    c = make_uint4(static_cast<uint32_t>(p1 >> 32) ^ c.y ^ k.x, static_cast<uint32_t>(p1),
                   static_cast<uint32_t>(p0 >> 32) ^ c.w ^ k.y, static_cast<uint32_t>(p0));
  }
  return c;
}

// mask (n): element i is 0 when word i % 4 of Philox(counter {lo(i/4), hi(i/4), lo(stream), hi(stream)}, key
// {lo(seed), hi(seed)}) is below threshold, else keep. Thread j makes elements [4j, 4j + 4).
__global__ void DropoutMaskKernel(uint64_t seed, uint64_t stream, uint32_t threshold, float keep,
                                  float* __restrict__ mask, int64_t n) {
  const int64_t blocks = (n + 3) / 4;
  const uint2 key = make_uint2(static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  for (int64_t j = GridStart(); j < blocks; j += GridStep()) {
    const auto block = static_cast<uint64_t>(j);
    const uint4 bits = Philox4x32(make_uint4(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                             static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)),
                                  key);
    const uint32_t words[4] = {bits.x, bits.y, bits.z, bits.w};
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      if (4 * j + w < n) mask[4 * j + w] = words[w] < threshold ? 0.0f : keep;
    }
  }
}

}  // namespace

absl::Status DropoutMaskCuda(const CudaContext& ctx, uint64_t seed, uint64_t stream, uint32_t threshold, float keep,
                             float* mask, int64_t n) {
  if (n == 0) return absl::OkStatus();
  DropoutMaskKernel<<<GridFor((n + 3) / 4), kThreads, 0, ctx.stream>>>(seed, stream, threshold, keep, mask, n);
  return LaunchStatus("DropoutMaskKernel");
}

}  // namespace ftd::cuda
