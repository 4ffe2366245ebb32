// DropoutMaskCpu: nn.Dropout's keep mask from Philox4x32-10, one counter per four elements (kernels.h gives the
// layout), so each block is computed alone and an OpenMP loop over blocks gives the same bits as one thread.
#include "kernels/cpu/cpu_ops.h"
#include "kernels/philox.h"

namespace ftd::cpu {

absl::Status DropoutMaskCpu(uint64_t seed, uint64_t stream, uint32_t threshold, float keep, float* mask,
                            int64_t n) {
  const PhiloxKey key = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (blocks >= (1 << 13))
  for (int64_t j = 0; j < blocks; ++j) {
    const auto block = static_cast<uint64_t>(j);
    const PhiloxCounter bits = Philox4x32({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                           static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)},
                                          key);
    for (int64_t w = 0; w < 4 && 4 * j + w < n; ++w) mask[4 * j + w] = bits[w] < threshold ? 0.0f : keep;
  }
  return absl::OkStatus();
}

}  // namespace ftd::cpu
