// NF4 4-bit weight quantisation as QLoRA uses it, bit-identical to bitsandbytes 0.50.2 on its CPU backend
// (quantize_4bit / dequantize_4bit, nf4, blocksize 64, with or without double quantisation of the absmax).
// File-format maths only, no kernels: ftctl and the GPU code share it.
#pragma once
#include <array>
#include <cstdint>
#include <vector>
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ftd {

inline constexpr int64_t kNf4BlockSize = 64;           // Values per fp32 absmax.
inline constexpr int64_t kNf4AbsmaxBlockSize = 256;    // Absmax values per second-level absmax.

// The 16 NF4 code values, ascending (bitsandbytes get_4bit_type("nf4")); code 7 is 0.
const std::array<float, 16>& Nf4Code();
// bitsandbytes create_dynamic_map(signed=True): the 256-entry, sorted 8-bit map the absmax values are
// quantised with under double quantisation.
const std::array<float, 256>& Nf4DynamicMap();

enum class Nf4Statistics {
  kFp32Absmax,   // One fp32 absmax per 64 values.
  kDoubleQuant,  // The absmax themselves quantised: offset + 8-bit codes + one fp32 per 256 codes.
};

// A quantised tensor's data; the shape lives with the caller (values are flat, row-major).
struct Nf4Tensor {
  Nf4Statistics statistics = Nf4Statistics::kFp32Absmax;
  int64_t numel = 0;
  std::vector<uint8_t> packed;  // (ceil(numel / 2)) two codes a byte, first in the high nibble.
  // kFp32Absmax: (blocks) max |x| per 64 values (a last partial block of zeros stores 1e-38, as bitsandbytes).
  std::vector<float> absmax;
  // kDoubleQuant: absmax ~= dynamic_map[qabsmax[b]] * absmax2[b / 256] + offset.
  std::vector<uint8_t> qabsmax;  // (blocks)
  float offset = 0.0f;           // Mean of the fp32 absmax (torch's summation order).
  std::vector<float> absmax2;    // (ceil(blocks / 256))
};

// Number of 64-value blocks for `numel` values.
inline int64_t Nf4Blocks(int64_t numel) { return (numel + kNf4BlockSize - 1) / kNf4BlockSize; }

// Quantises `x` (numel >= 1, all finite) exactly as bitsandbytes.functional.quantize_4bit(quant_type="nf4",
// blocksize=64, compress_statistics=double quant) does on CPU. INVALID_ARGUMENT for an empty or non-finite input.
absl::StatusOr<Nf4Tensor> QuantizeNf4(absl::Span<const float> x, Nf4Statistics statistics);

// The per-block fp32 absmax a dequantisation uses (restored from the double-quant state when there is one).
// INVALID_ARGUMENT when the tensor's parts have inconsistent sizes.
absl::StatusOr<std::vector<float>> Nf4BlockAbsmax(const Nf4Tensor& tensor);

// code[nibble] * absmax[block] in fp32 into `out` (numel values), as bitsandbytes.functional.dequantize_4bit.
// INVALID_ARGUMENT for inconsistent sizes or an `out` of the wrong length.
absl::Status DequantizeNf4(const Nf4Tensor& tensor, absl::Span<float> out);

// Bytes a quantised tensor of `numel` values holds: packed codes plus the statistics (absmax, or qabsmax +
// offset + absmax2). The shared code tables are not counted.
int64_t Nf4QuantizedBytes(int64_t numel, Nf4Statistics statistics);
inline int64_t Nf4QuantizedBytes(const Nf4Tensor& tensor) {
  return Nf4QuantizedBytes(tensor.numel, tensor.statistics);
}

}  // namespace ftd
