// Host tensors as the file formats hand them out: a borrowed view (TensorView, e.g. into an mmapped
// safetensors file) and an owning tensor (Tensor). Row-major, no strides: every format here stores tensors
// contiguously.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "model/dtype.h"

namespace ftd {

// Product of the dimensions; 1 for a scalar (empty shape).
int64_t NumElements(const std::vector<int64_t>& shape);
// "[4096, 11008]".
std::string ShapeString(const std::vector<int64_t>& shape);

// A tensor whose bytes belong to someone else (a mapped file, a Tensor). Valid while the owner lives.
struct TensorView {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  absl::Span<const uint8_t> data;  // NumElements(shape) * DTypeSize(dtype) bytes.
};

// A tensor that owns its bytes.
struct Tensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;

  TensorView view() const { return TensorView{dtype, shape, absl::MakeConstSpan(data)}; }
  // Zero-filled tensor of this shape and dtype.
  static Tensor Zeros(DType dtype, std::vector<int64_t> shape);
  // F32 tensor holding `values` (size must equal NumElements(shape); FTD_CHECKed).
  static Tensor FromF32(std::vector<int64_t> shape, const std::vector<float>& values);
};

// Any floating tensor's elements converted to fp32. INVALID_ARGUMENT for integer/bool tensors.
absl::StatusOr<std::vector<float>> ToF32(const TensorView& tensor);
// fp32 values stored as `dtype` (F32, F16, BF16 or F64) with torch's rounding.
absl::StatusOr<Tensor> FromF32As(DType dtype, std::vector<int64_t> shape, absl::Span<const float> values);

}  // namespace ftd
