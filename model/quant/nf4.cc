// NF4 quantisation with bitsandbytes' exact fp32 arithmetic. Each step names the bitsandbytes 0.50.2 source it
// mirrors; tests/fixtures/gen_nf4.py holds a numpy emulation of the same steps checked against the package.
// Built with -ffp-contract=off: a fused multiply-add would change roundings bitsandbytes does separately.
#include "model/quant/nf4.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace ftd {
namespace {

// torch.clamp(absmax, min=1e-38) in backends/default/ops.py (1e-38 rounded to fp32).
constexpr float kMinAbsmax = 1e-38f;

// utils::CeilLog2 in ATen.
int64_t CeilLog2(int64_t x) {
  if (x <= 2) return 1;
  int64_t bits = 0;
  for (uint64_t v = static_cast<uint64_t>(x - 1); v != 0; v >>= 1) ++bits;
  return bits;
}

// ATen SumKernel.cpp multi_row_sum: `size` rows of `width` fp32 values (row i at data + i * width), summed
// column-wise in a 4-level cascade. Returns the `width` column sums.
std::vector<float> MultiRowSum(const float* data, int64_t size, int64_t width) {
  constexpr int64_t kLevels = 4;
  const int64_t level_power = std::max<int64_t>(4, CeilLog2(size) / kLevels);
  const int64_t level_step = int64_t{1} << level_power;
  const int64_t level_mask = level_step - 1;
  std::vector<std::vector<float>> acc(kLevels, std::vector<float>(width, 0.0f));
  int64_t i = 0;
  while (i + level_step <= size) {
    for (int64_t j = 0; j < level_step; ++j, ++i) {
      for (int64_t k = 0; k < width; ++k) acc[0][k] += data[i * width + k];
    }
    for (int64_t j = 1; j < kLevels; ++j) {
      for (int64_t k = 0; k < width; ++k) {
        acc[j][k] += acc[j - 1][k];
        acc[j - 1][k] = 0.0f;
      }
      if ((i & (level_mask << (j * level_power))) != 0) break;
    }
  }
  for (; i < size; ++i) {
    for (int64_t k = 0; k < width; ++k) acc[0][k] += data[i * width + k];
  }
  for (int64_t j = 1; j < kLevels; ++j) {
    for (int64_t k = 0; k < width; ++k) acc[0][k] += acc[j][k];
  }
  return acc[0];
}

// ATen row_sum: `size` items of `lanes` values, 4 interleaved partial sums (ilp_factor 4).
std::vector<float> RowSum(const float* data, int64_t size, int64_t lanes) {
  constexpr int64_t kIlp = 4;
  const int64_t size_ilp = size / kIlp;
  std::vector<float> partial = MultiRowSum(data, size_ilp, kIlp * lanes);
  for (int64_t i = size_ilp * kIlp; i < size; ++i) {
    for (int64_t k = 0; k < lanes; ++k) partial[k] += data[i * lanes + k];
  }
  for (int64_t p = 1; p < kIlp; ++p) {
    for (int64_t k = 0; k < lanes; ++k) partial[k] += partial[p * lanes + k];
  }
  partial.resize(lanes);
  return partial;
}

// torch.sum of a contiguous 1-D fp32 CPU tensor (cascade_sum, one thread). torch runs it on 8-lane vectors
// (Vectorized<float> of its AVX2 / default / NEON builds; the reduction kernels have no AVX512 build):
// vectorized_inner_sum when n >= 8, otherwise the scalar row_sum.
float TorchSumF32(absl::Span<const float> x) {
  constexpr int64_t kLanes = 8;
  const int64_t n = static_cast<int64_t>(x.size());
  float acc = 0.0f;
  if (n >= kLanes) {
    const int64_t vec_size = n / kLanes;
    std::vector<float> vacc = RowSum(x.data(), vec_size, kLanes);
    for (int64_t k = vec_size * kLanes; k < n; ++k) acc += x[k];
    for (int64_t k = 0; k < kLanes; ++k) acc += vacc[k];
  } else {
    acc = RowSum(x.data(), n, 1)[0];
  }
  return 0.0f + acc;  // CastStoreAccumulate into the zero-filled output.
}

// Index of the first fp32 midpoint (code[i] + code[i+1]) / 2 that is >= v: torch.bucketize(right=False) in
// backends/default/ops.py quantize_4bit, so a value exactly on a midpoint takes the lower code.
uint8_t Nf4CodeIndex(float v) {
  const std::array<float, 16>& code = Nf4Code();
  uint8_t index = 0;
  for (int i = 0; i < 15; ++i) {
    const float midpoint = (code[i] + code[i + 1]) / 2.0f;
    if (midpoint < v) index = static_cast<uint8_t>(i + 1);
  }
  return index;
}

// csrc/cpu_ops.cpp build_quantize_lut: the 8-bit CPU quantiser does not search the map; it maps
// [-1, 1] onto 65536 bins and each bin to the first code whose upper midpoint is not below the bin's value.
constexpr int kLutSize = 65536;
const std::vector<uint8_t>& DynamicMapLut() {
  static const std::vector<uint8_t>* lut = [] {
    const std::array<float, 256>& code = Nf4DynamicMap();
    std::array<float, 255> midpoints;
    for (int i = 0; i < 255; ++i) midpoints[i] = 0.5f * (code[i] + code[i + 1]);
    auto* table = new std::vector<uint8_t>(kLutSize);
    int code_idx = 0;
    for (int i = 0; i < kLutSize; ++i) {
      const float val = -1.0f + (2.0f * static_cast<float>(i)) / static_cast<float>(kLutSize - 1);
      while (code_idx < 255 && midpoints[code_idx] < val) ++code_idx;
      (*table)[i] = static_cast<uint8_t>(code_idx);
    }
    return table;
  }();
  return *lut;
}

// csrc/cpu_ops.cpp norm_to_lut_index (no fused multiply-add: gen_nf4.py checks both roundings).
uint16_t LutIndex(float v) {
  v = std::clamp(v, -1.0f, 1.0f);
  const float t = (v + 1.0f) * 0.5f;
  const float scaled = t * static_cast<float>(kLutSize - 1);
  return static_cast<uint16_t>(scaled + 0.5f);
}

// csrc/cpu_ops.cpp quantize_cpu_impl (fp32), blocks of 256: absmax per block, an all-zero block gives
// codes 0, otherwise lut[index(x * (1 / absmax))].
void QuantizeBlockwise8(absl::Span<const float> x, std::vector<uint8_t>& codes, std::vector<float>& absmax) {
  const int64_t n = static_cast<int64_t>(x.size());
  const int64_t blocks = (n + kNf4AbsmaxBlockSize - 1) / kNf4AbsmaxBlockSize;
  const std::vector<uint8_t>& lut = DynamicMapLut();
  codes.assign(n, 0);
  absmax.assign(blocks, 0.0f);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * kNf4AbsmaxBlockSize;
    const int64_t end = std::min(begin + kNf4AbsmaxBlockSize, n);
    float block_max = 0.0f;
    for (int64_t i = begin; i < end; ++i) block_max = std::max(block_max, std::fabs(x[i]));
    absmax[b] = block_max;
    if (block_max == 0.0f) continue;
    const float inv = 1.0f / block_max;
    for (int64_t i = begin; i < end; ++i) codes[i] = lut[LutIndex(x[i] * inv)];
  }
}

absl::Status CheckParts(const Nf4Tensor& t) {
  if (t.numel < 1) return absl::InvalidArgumentError(absl::StrCat("NF4 tensor: numel ", t.numel, " < 1"));
  const int64_t blocks = Nf4Blocks(t.numel);
  if (static_cast<int64_t>(t.packed.size()) != (t.numel + 1) / 2) {
    return absl::InvalidArgumentError(absl::StrCat("NF4 tensor: ", t.packed.size(), " packed bytes for ",
                                                   t.numel, " values (want ", (t.numel + 1) / 2, ")"));
  }
  if (t.statistics == Nf4Statistics::kFp32Absmax) {
    if (static_cast<int64_t>(t.absmax.size()) != blocks) {
      return absl::InvalidArgumentError(
          absl::StrCat("NF4 tensor: ", t.absmax.size(), " absmax values for ", blocks, " blocks"));
    }
    return absl::OkStatus();
  }
  const int64_t blocks2 = (blocks + kNf4AbsmaxBlockSize - 1) / kNf4AbsmaxBlockSize;
  if (static_cast<int64_t>(t.qabsmax.size()) != blocks || static_cast<int64_t>(t.absmax2.size()) != blocks2) {
    return absl::InvalidArgumentError(absl::StrCat("NF4 tensor: double-quant state has ", t.qabsmax.size(),
                                                   " codes and ", t.absmax2.size(), " absmax2 for ", blocks,
                                                   " blocks (want ", blocks, " and ", blocks2, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

const std::array<float, 16>& Nf4Code() {
  // bitsandbytes functional.get_4bit_type("nf4") (== backends/utils.py _NF4_QUANT_TABLE), as fp32.
  static const std::array<float, 16> code = {
      -1.0f,       -0x1.647362p-1f, -0x1.0cd66p-1f, -0x1.94654p-2f, -0x1.23449ap-2f, -0x1.7a6a7ep-3f,
      -0x1.74f0e2p-4f, 0.0f,         0x1.45f5fep-4f, 0x1.4995c6p-3f, 0x1.f809bap-3f, 0x1.5a0674p-2f,
      0x1.c3497p-2f,  0x1.200f56p-1f, 0x1.722766p-1f, 1.0f};
  return code;
}

const std::array<float, 256>& Nf4DynamicMap() {
  // create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), printed as fp32 hex.
  static const std::array<float, 256> map = {
    -0x1.fc6666p-1f, -0x1.f53334p-1f, -0x1.eep-1f, -0x1.e6ccccp-1f,
    -0x1.df999ap-1f, -0x1.d86666p-1f, -0x1.d13334p-1f, -0x1.cap-1f,
    -0x1.c2ccccp-1f, -0x1.bb999ap-1f, -0x1.b46666p-1f, -0x1.ad3334p-1f,
    -0x1.a6p-1f, -0x1.9eccccp-1f, -0x1.97999ap-1f, -0x1.906666p-1f,
    -0x1.893334p-1f, -0x1.82p-1f, -0x1.7accccp-1f, -0x1.73999ap-1f,
    -0x1.6c6668p-1f, -0x1.653334p-1f, -0x1.5ep-1f, -0x1.56ccccp-1f,
    -0x1.4f999ap-1f, -0x1.486668p-1f, -0x1.413334p-1f, -0x1.3ap-1f,
    -0x1.32ccccp-1f, -0x1.2b999ap-1f, -0x1.246668p-1f, -0x1.1d3334p-1f,
    -0x1.16p-1f, -0x1.0eccccp-1f, -0x1.079998p-1f, -0x1.006666p-1f,
    -0x1.f26664p-2f, -0x1.e4p-2f, -0x1.d59998p-2f, -0x1.c73334p-2f,
    -0x1.b8ccccp-2f, -0x1.aa6666p-2f, -0x1.9cp-2f, -0x1.8d9998p-2f,
    -0x1.7f3334p-2f, -0x1.70ccccp-2f, -0x1.626666p-2f, -0x1.54p-2f,
    -0x1.459998p-2f, -0x1.373334p-2f, -0x1.28ccccp-2f, -0x1.1a6668p-2f,
    -0x1.0cp-2f, -0x1.fb3332p-3f, -0x1.de6666p-3f, -0x1.c1999ap-3f,
    -0x1.a4ccccp-3f, -0x1.88p-3f, -0x1.6b3334p-3f, -0x1.4e6666p-3f,
    -0x1.31999ap-3f, -0x1.14ccccp-3f, -0x1.fp-4f, -0x1.b66668p-4f,
    -0x1.93d70ap-4f, -0x1.8851eep-4f, -0x1.7ccccep-4f, -0x1.7147aep-4f,
    -0x1.65c29p-4f, -0x1.5a3d7p-4f, -0x1.4eb854p-4f, -0x1.433334p-4f,
    -0x1.37ae14p-4f, -0x1.2c28f6p-4f, -0x1.20a3d6p-4f, -0x1.151ebap-4f,
    -0x1.09999ap-4f, -0x1.fc28f6p-5f, -0x1.e51ebap-5f, -0x1.ce147ap-5f,
    -0x1.b70a3ep-5f, -0x1.ap-5f, -0x1.88f5c2p-5f, -0x1.71eb86p-5f,
    -0x1.5ae146p-5f, -0x1.43d70ap-5f, -0x1.2ccccep-5f, -0x1.15c29p-5f,
    -0x1.fd70a4p-6f, -0x1.cf5c2ap-6f, -0x1.a147aep-6f, -0x1.733334p-6f,
    -0x1.451ebap-6f, -0x1.170a3ep-6f, -0x1.d1eb86p-7f, -0x1.75c29p-7f,
    -0x1.3e76c8p-7f, -0x1.2c083p-7f, -0x1.19999ap-7f, -0x1.072b02p-7f,
    -0x1.e978d4p-8f, -0x1.c49ba6p-8f, -0x1.9fbe76p-8f, -0x1.7ae148p-8f,
    -0x1.56041ap-8f, -0x1.3126e8p-8f, -0x1.0c49bap-8f, -0x1.ced914p-9f,
    -0x1.851eb8p-9f, -0x1.3b645ap-9f, -0x1.e353f8p-10f, -0x1.4fdf3ap-10f,
    -0x1.eecbfep-11f, -0x1.b3d07cp-11f, -0x1.78d5p-11f, -0x1.3dd982p-11f,
    -0x1.02de02p-11f, -0x1.8fc506p-12f, -0x1.19ce0ap-12f, -0x1.47ae16p-13f,
    -0x1.743e96p-14f, -0x1.15df66p-14f, -0x1.6f0068p-15f, -0x1.64840cp-16f,
    -0x1.040bfep-17f, -0x1.b43528p-19f, -0x1.27476ep-21f, 0.0f,
    0x1.27476ep-21f, 0x1.b43528p-19f, 0x1.040bfep-17f, 0x1.64840cp-16f,
    0x1.6f0068p-15f, 0x1.15df66p-14f, 0x1.743e96p-14f, 0x1.47ae16p-13f,
    0x1.19ce0ap-12f, 0x1.8fc506p-12f, 0x1.02de02p-11f, 0x1.3dd982p-11f,
    0x1.78d5p-11f, 0x1.b3d07cp-11f, 0x1.eecbfep-11f, 0x1.4fdf3ap-10f,
    0x1.e353f8p-10f, 0x1.3b645ap-9f, 0x1.851eb8p-9f, 0x1.ced914p-9f,
    0x1.0c49bap-8f, 0x1.3126e8p-8f, 0x1.56041ap-8f, 0x1.7ae148p-8f,
    0x1.9fbe76p-8f, 0x1.c49ba6p-8f, 0x1.e978d4p-8f, 0x1.072b02p-7f,
    0x1.19999ap-7f, 0x1.2c083p-7f, 0x1.3e76c8p-7f, 0x1.75c29p-7f,
    0x1.d1eb86p-7f, 0x1.170a3ep-6f, 0x1.451ebap-6f, 0x1.733334p-6f,
    0x1.a147aep-6f, 0x1.cf5c2ap-6f, 0x1.fd70a4p-6f, 0x1.15c29p-5f,
    0x1.2ccccep-5f, 0x1.43d70ap-5f, 0x1.5ae146p-5f, 0x1.71eb86p-5f,
    0x1.88f5c2p-5f, 0x1.ap-5f, 0x1.b70a3ep-5f, 0x1.ce147ap-5f,
    0x1.e51ebap-5f, 0x1.fc28f6p-5f, 0x1.09999ap-4f, 0x1.151ebap-4f,
    0x1.20a3d6p-4f, 0x1.2c28f6p-4f, 0x1.37ae14p-4f, 0x1.433334p-4f,
    0x1.4eb854p-4f, 0x1.5a3d7p-4f, 0x1.65c29p-4f, 0x1.7147aep-4f,
    0x1.7ccccep-4f, 0x1.8851eep-4f, 0x1.93d70ap-4f, 0x1.b66668p-4f,
    0x1.fp-4f, 0x1.14ccccp-3f, 0x1.31999ap-3f, 0x1.4e6666p-3f,
    0x1.6b3334p-3f, 0x1.88p-3f, 0x1.a4ccccp-3f, 0x1.c1999ap-3f,
    0x1.de6666p-3f, 0x1.fb3332p-3f, 0x1.0cp-2f, 0x1.1a6668p-2f,
    0x1.28ccccp-2f, 0x1.373334p-2f, 0x1.459998p-2f, 0x1.54p-2f,
    0x1.626666p-2f, 0x1.70ccccp-2f, 0x1.7f3334p-2f, 0x1.8d9998p-2f,
    0x1.9cp-2f, 0x1.aa6666p-2f, 0x1.b8ccccp-2f, 0x1.c73334p-2f,
    0x1.d59998p-2f, 0x1.e4p-2f, 0x1.f26664p-2f, 0x1.006666p-1f,
    0x1.079998p-1f, 0x1.0eccccp-1f, 0x1.16p-1f, 0x1.1d3334p-1f,
    0x1.246668p-1f, 0x1.2b999ap-1f, 0x1.32ccccp-1f, 0x1.3ap-1f,
    0x1.413334p-1f, 0x1.486668p-1f, 0x1.4f999ap-1f, 0x1.56ccccp-1f,
    0x1.5ep-1f, 0x1.653334p-1f, 0x1.6c6668p-1f, 0x1.73999ap-1f,
    0x1.7accccp-1f, 0x1.82p-1f, 0x1.893334p-1f, 0x1.906666p-1f,
    0x1.97999ap-1f, 0x1.9eccccp-1f, 0x1.a6p-1f, 0x1.ad3334p-1f,
    0x1.b46666p-1f, 0x1.bb999ap-1f, 0x1.c2ccccp-1f, 0x1.cap-1f,
    0x1.d13334p-1f, 0x1.d86666p-1f, 0x1.df999ap-1f, 0x1.e6ccccp-1f,
    0x1.eep-1f, 0x1.f53334p-1f, 0x1.fc6666p-1f, 0x1p+0f,
  };
  return map;
}

absl::StatusOr<Nf4Tensor> QuantizeNf4(absl::Span<const float> x, Nf4Statistics statistics) {
  const int64_t n = static_cast<int64_t>(x.size());
  if (n < 1) return absl::InvalidArgumentError("QuantizeNf4: empty input");
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      return absl::InvalidArgumentError(absl::StrCat("QuantizeNf4: value ", i, " is not finite (", x[i], ")"));
    }
  }
  // backends/default/ops.py quantize_4bit.
  const int64_t blocks = Nf4Blocks(n);
  std::vector<float> absmax(blocks);
  std::vector<uint8_t> codes(n + (n % 2), 7);  // An odd length is padded with 0.0, code 7.
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * kNf4BlockSize;
    const int64_t end = std::min(begin + kNf4BlockSize, n);
    float block_max = 0.0f;
    for (int64_t i = begin; i < end; ++i) block_max = std::max(block_max, std::fabs(x[i]));
    const float divisor = std::max(block_max, kMinAbsmax);
    if (end - begin == kNf4BlockSize) {
      // Full blocks: x * (1 / absmax.clamp(min=1e-38)); the stored absmax is not clamped.
      absmax[b] = block_max;
      const float recip = 1.0f / divisor;
      for (int64_t i = begin; i < end; ++i) codes[i] = Nf4CodeIndex(std::clamp(x[i] * recip, -1.0f, 1.0f));
    } else {
      // The last partial block divides, and stores the clamped absmax.
      absmax[b] = divisor;
      for (int64_t i = begin; i < end; ++i) codes[i] = Nf4CodeIndex(std::clamp(x[i] / divisor, -1.0f, 1.0f));
    }
  }
  Nf4Tensor out;
  out.statistics = statistics;
  out.numel = n;
  out.packed.resize((n + 1) / 2);
  for (size_t i = 0; i < out.packed.size(); ++i) {
    out.packed[i] = static_cast<uint8_t>((codes[2 * i] << 4) | codes[2 * i + 1]);
  }
  if (statistics == Nf4Statistics::kFp32Absmax) {
    out.absmax = std::move(absmax);
    return out;
  }
  // functional.py quantize_4bit, compress_statistics: offset = absmax.mean() (sum, then / count), then
  // quantize_blockwise(absmax - offset, blocksize=256) with the signed dynamic map.
  out.offset = TorchSumF32(absmax) / static_cast<float>(blocks);
  std::vector<float> centred(blocks);
  for (int64_t b = 0; b < blocks; ++b) centred[b] = absmax[b] - out.offset;
  QuantizeBlockwise8(centred, out.qabsmax, out.absmax2);
  return out;
}

absl::StatusOr<std::vector<float>> Nf4BlockAbsmax(const Nf4Tensor& tensor) {
  if (absl::Status s = CheckParts(tensor); !s.ok()) return s;
  if (tensor.statistics == Nf4Statistics::kFp32Absmax) return tensor.absmax;
  // functional.py dequantize_4bit (nested): dequantize_blockwise (csrc/cpu_ops.cpp dequantizeBlockwise8bitCpu:
  // code[q] * absmax2), then absmax += offset, two fp32 roundings.
  const std::array<float, 256>& map = Nf4DynamicMap();
  std::vector<float> absmax(tensor.qabsmax.size());
  for (size_t b = 0; b < absmax.size(); ++b) {
    const float scaled = map[tensor.qabsmax[b]] * tensor.absmax2[b / kNf4AbsmaxBlockSize];
    absmax[b] = scaled + tensor.offset;
  }
  return absmax;
}

absl::Status DequantizeNf4(const Nf4Tensor& tensor, absl::Span<float> out) {
  if (absl::Status s = CheckParts(tensor); !s.ok()) return s;
  if (static_cast<int64_t>(out.size()) != tensor.numel) {
    return absl::InvalidArgumentError(
        absl::StrCat("DequantizeNf4: output holds ", out.size(), " values, tensor has ", tensor.numel));
  }
  absl::StatusOr<std::vector<float>> absmax = Nf4BlockAbsmax(tensor);
  if (!absmax.ok()) return absmax.status();
  // csrc/cpu_ops.cpp dequantizeBlockwise4bitCpu: lut[nibble] * absmax, high nibble first.
  const std::array<float, 16>& code = Nf4Code();
  for (int64_t i = 0; i < tensor.numel; ++i) {
    const uint8_t byte = tensor.packed[i / 2];
    const uint8_t nibble = (i % 2 == 0) ? (byte >> 4) : (byte & 0x0F);
    out[i] = code[nibble] * (*absmax)[i / kNf4BlockSize];
  }
  return absl::OkStatus();
}

int64_t Nf4QuantizedBytes(int64_t numel, Nf4Statistics statistics) {
  const int64_t blocks = Nf4Blocks(numel);
  const int64_t packed = (numel + 1) / 2;
  if (statistics == Nf4Statistics::kFp32Absmax) return packed + blocks * static_cast<int64_t>(sizeof(float));
  const int64_t blocks2 = (blocks + kNf4AbsmaxBlockSize - 1) / kNf4AbsmaxBlockSize;
  return packed + blocks + static_cast<int64_t>(sizeof(float)) * (1 + blocks2);
}

}  // namespace ftd
