// Element types of model tensors as safetensors names them (F32, F16, BF16, ...), their sizes, and the
// fp16/bf16 <-> fp32 conversions every format reader needs (bf16 rounding as torch: round to nearest even).
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ftd {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// "F32", "BF16", ... exactly as in a safetensors header.
absl::string_view DTypeName(DType dtype);
// Inverse of DTypeName; INVALID_ARGUMENT naming the text for anything else (e.g. "F8_E4M3" is not supported).
absl::StatusOr<DType> ParseDType(absl::string_view name);
// Bytes per element.
size_t DTypeSize(DType dtype);
// True for F64, F32, F16, BF16.
bool IsFloating(DType dtype);

float Bf16ToF32(uint16_t bits);
// Round to nearest even, NaN stays NaN (quiet), as torch's float -> bfloat16.
uint16_t F32ToBf16(float value);
float F16ToF32(uint16_t bits);
// Round to nearest even with overflow to inf and subnormals, as torch's float -> half.
uint16_t F32ToF16(float value);

}  // namespace ftd
