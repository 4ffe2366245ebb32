// Tensor helpers: element counts, shape strings, and fp32 conversion of floating tensors.
#include "model/tensor.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"

namespace ftd {

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeString(const std::vector<int64_t>& shape) { return absl::StrCat("[", absl::StrJoin(shape, ", "), "]"); }

Tensor Tensor::Zeros(DType dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.dtype = dtype;
  t.data.assign(static_cast<size_t>(NumElements(shape)) * DTypeSize(dtype), 0);
  t.shape = std::move(shape);
  return t;
}

Tensor Tensor::FromF32(std::vector<int64_t> shape, const std::vector<float>& values) {
  FTD_CHECK(static_cast<int64_t>(values.size()) == NumElements(shape)) << ShapeString(shape);
  Tensor t;
  t.dtype = DType::kF32;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(float));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

absl::StatusOr<std::vector<float>> ToF32(const TensorView& tensor) {
  const size_t n = static_cast<size_t>(NumElements(tensor.shape));
  if (tensor.data.size() != n * DTypeSize(tensor.dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor of shape ", ShapeString(tensor.shape), " and dtype ",
                                                   DTypeName(tensor.dtype), " has ", tensor.data.size(), " bytes"));
  }
  std::vector<float> out(n);
  const uint8_t* p = tensor.data.data();
  switch (tensor.dtype) {
    case DType::kF32:
      std::memcpy(out.data(), p, n * sizeof(float));
      return out;
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, p + 8 * i, 8);
        out[i] = static_cast<float>(v);
      }
      return out;
    case DType::kF16:
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, p + 2 * i, 2);
        out[i] = tensor.dtype == DType::kF16 ? F16ToF32(bits) : Bf16ToF32(bits);
      }
      return out;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("cannot convert a ", DTypeName(tensor.dtype), " tensor to F32: not a floating type"));
  }
}

absl::StatusOr<Tensor> FromF32As(DType dtype, std::vector<int64_t> shape, absl::Span<const float> values) {
  if (static_cast<int64_t>(values.size()) != NumElements(shape)) {
    return absl::InvalidArgumentError(
        absl::StrCat(values.size(), " values do not fill shape ", ShapeString(shape)));
  }
  Tensor t = Tensor::Zeros(dtype, std::move(shape));
  uint8_t* p = t.data.data();
  switch (dtype) {
    case DType::kF32:
      std::memcpy(p, values.data(), values.size() * sizeof(float));
      return t;
    case DType::kF64:
      for (size_t i = 0; i < values.size(); ++i) {
        double v = values[i];
        std::memcpy(p + 8 * i, &v, 8);
      }
      return t;
    case DType::kF16:
    case DType::kBF16:
      for (size_t i = 0; i < values.size(); ++i) {
        uint16_t bits = dtype == DType::kF16 ? F32ToF16(values[i]) : F32ToBf16(values[i]);
        std::memcpy(p + 2 * i, &bits, 2);
      }
      return t;
    default:
      return absl::InvalidArgumentError(absl::StrCat("cannot store F32 values as ", DTypeName(dtype)));
  }
}

}  // namespace ftd
