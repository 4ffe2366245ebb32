// Reading and writing bitsandbytes 4-bit model directories; see nf4_model.h. nlohmann_json with exceptions off:
// bad files become a Status, never a throw.
#include "model/quant/nf4_model.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "model/model_config.h"
#include "model/strict_json.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

using nlohmann::json;

// Suffixes of the tensors bitsandbytes stores beside a 4-bit weight (Params4bit's quant state, flattened by
// QuantState.as_dict(packed=True)).
constexpr const char* kAbsmax = ".absmax";
constexpr const char* kQuantMap = ".quant_map";
constexpr const char* kNestedAbsmax = ".nested_absmax";
constexpr const char* kNestedQuantMap = ".nested_quant_map";
constexpr const char* kQuantState = ".quant_state.bitsandbytes__nf4";

bool IsDoubleQuant(Nf4Statistics statistics) { return statistics == Nf4Statistics::kDoubleQuant; }

std::vector<float> ToFloats(const TensorView& t) {
  std::vector<float> v(t.data.size() / sizeof(float));
  std::memcpy(v.data(), t.data.data(), v.size() * sizeof(float));  // Mapped bytes need not be 4-aligned.
  return v;
}

template <size_t N>
bool SameBits(const std::vector<float>& got, const std::array<float, N>& want) {
  return got.size() == N && std::memcmp(got.data(), want.data(), N * sizeof(float)) == 0;
}

// Python's json.dumps of a list of ints: "[32, 88]".
std::string PythonIntList(const std::vector<int64_t>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

// Checks and reads one weight's parts. Every error names the directory and the weight.
class Nf4WeightReader {
 public:
  Nf4WeightReader(const HfModel& hf, const std::string& name) : hf_(hf), name_(name) {}

  template <typename... Parts>
  absl::Status Error(const Parts&... what) const {
    return absl::InvalidArgumentError(absl::StrCat(hf_.dir, ": NF4 weight ", name_, ": ", what...));
  }

  // The tensor `name_ + suffix`, which must have `dtype` and `shape`.
  absl::StatusOr<TensorView> Part(const std::string& suffix, DType dtype, const std::vector<int64_t>& shape) const {
    const std::string part = name_ + suffix;
    absl::StatusOr<TensorView> t = hf_.weights->Get(part);
    if (!t.ok()) return Error("tensor ", part, " is missing");
    if (t->dtype != dtype || t->shape != shape) {
      return Error("tensor ", part, " is ", DTypeName(t->dtype), " ", ShapeString(t->shape), ", expected ",
                   DTypeName(dtype), " ", ShapeString(shape));
    }
    return *t;
  }

  // The quant_state JSON, checked against the weight's shape; returns the double-quant offset (0 without).
  absl::StatusOr<float> QuantState(const std::vector<int64_t>& shape, bool double_quant) const {
    const std::string part = name_ + kQuantState;
    absl::StatusOr<TensorView> t = hf_.weights->Get(part);
    if (!t.ok()) {
      if (hf_.weights->contains(name_ + ".quant_state.bitsandbytes__fp4")) {
        return Error("it is fp4-quantised (quant_state.bitsandbytes__fp4); only nf4 is supported");
      }
      return Error("tensor ", part, " is missing");
    }
    if (t->dtype != DType::kU8 || t->shape.size() != 1) {
      return Error("tensor ", part, " is ", DTypeName(t->dtype), " ", ShapeString(t->shape), ", expected U8 (bytes)");
    }
    const std::string text(t->data.begin(), t->data.end());
    absl::StatusOr<json> parsed = ParseJsonStrict(text, part);
    if (!parsed.ok()) return Error(parsed.status().message());
    const json& j = *parsed;
    if (!j.is_object()) return Error(part, " is not a JSON object");
    auto string_is = [&](const char* key, std::initializer_list<const char*> allowed) -> absl::Status {
      if (!j.contains(key)) return Error(part, ": \"", key, "\" is missing");
      for (const char* a : allowed) {
        if (j[key].is_string() && j[key].get<std::string>() == a) return absl::OkStatus();
      }
      return Error(part, ": \"", key, "\" is ", j[key].dump(), ", expected ", absl::StrJoin(allowed, " or "));
    };
    auto int_is = [&](const char* key, int64_t want) -> absl::Status {
      if (!j.contains(key)) return Error(part, ": \"", key, "\" is missing");
      if (!j[key].is_number_integer() || j[key].get<int64_t>() != want) {
        return Error(part, ": \"", key, "\" is ", j[key].dump(), ", expected ", want);
      }
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(string_is("quant_type", {"nf4"}));
    RETURN_IF_ERROR(int_is("blocksize", kNf4BlockSize));
    RETURN_IF_ERROR(string_is("dtype", {"float32", "bfloat16", "float16"}));
    if (!j.contains("shape") || !j["shape"].is_array()) return Error(part, ": \"shape\" is missing or not a list");
    std::vector<int64_t> state_shape;
    for (const json& d : j["shape"]) {
      if (!d.is_number_integer()) return Error(part, ": \"shape\" is ", j["shape"].dump(), ", expected integers");
      state_shape.push_back(d.get<int64_t>());
    }
    if (state_shape != shape) {
      return Error(part, ": \"shape\" is ", j["shape"].dump(), ", config.json implies ", ShapeString(shape));
    }
    if (!double_quant) {
      for (const char* key : {"nested_blocksize", "nested_dtype", "nested_offset"}) {
        if (j.contains(key)) {
          return Error(part, ": has \"", key,
                       "\" but config.json's quantization_config.bnb_4bit_use_double_quant is false");
        }
      }
      return 0.0f;
    }
    RETURN_IF_ERROR(int_is("nested_blocksize", kNf4AbsmaxBlockSize));
    RETURN_IF_ERROR(string_is("nested_dtype", {"float32"}));
    if (!j.contains("nested_offset") || !j["nested_offset"].is_number() ||
        !std::isfinite(j["nested_offset"].get<double>())) {
      return Error(part, ": \"nested_offset\" is ", j.contains("nested_offset") ? j["nested_offset"].dump() : "missing",
                   ", expected a finite number");
    }
    // bitsandbytes reads it back as a float32 tensor: the stored double is the float32 widened.
    return static_cast<float>(j["nested_offset"].get<double>());
  }

 private:
  const HfModel& hf_;
  const std::string& name_;
};

// config.json text: the source's keys (transformers writes them sorted, 2-space indent, ASCII-escaped, as
// nlohmann's std::map-backed json dumps them) plus the quantization_config BitsAndBytesConfig.to_dict() gives.
absl::StatusOr<std::string> QuantizedConfigJson(const std::string& source_text, const std::string& path,
                                                Nf4Statistics statistics, DType compute_dtype) {
  json j = json::parse(source_text.begin(), source_text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
  j["quantization_config"] = {
      {"_load_in_4bit", true},
      {"_load_in_8bit", false},
      {"bnb_4bit_compute_dtype", TorchDTypeName(compute_dtype)},
      {"bnb_4bit_quant_storage", "uint8"},
      {"bnb_4bit_quant_type", "nf4"},
      {"bnb_4bit_use_double_quant", IsDoubleQuant(statistics)},
      {"llm_int8_enable_fp32_cpu_offload", false},
      {"llm_int8_has_fp16_weight", false},
      {"llm_int8_skip_modules", nullptr},
      {"llm_int8_threshold", 6.0},
      {"load_in_4bit", true},
      {"load_in_8bit", false},
      {"quant_method", "bitsandbytes"},
  };
  return j.dump(2, ' ', /*ensure_ascii=*/true) + "\n";
}

}  // namespace

std::string PythonFloatRepr(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  // Shortest round-trip digits, as Python's repr (both pick the closest of the shortest candidates).
  char buf[64];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  const std::string sci(buf, r.ptr);  // "-d.ddde+XX"
  const size_t e = sci.find('e');
  const bool negative = sci[0] == '-';
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e; ++i) {
    if (sci[i] != '.') digits += sci[i];
  }
  const int exponent = std::stoi(sci.substr(e + 1));
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits[0];
    if (digits.size() > 1) absl::StrAppend(&out, ".", digits.substr(1));
    const int magnitude = std::abs(exponent);
    absl::StrAppend(&out, exponent < 0 ? "e-" : "e+", magnitude < 10 ? "0" : "", magnitude);
  } else if (exponent < 0) {
    absl::StrAppend(&out, "0.", std::string(-exponent - 1, '0'), digits);
  } else {
    const size_t int_digits = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= int_digits) {
      absl::StrAppend(&out, digits, std::string(int_digits - digits.size(), '0'), ".0");
    } else {
      absl::StrAppend(&out, digits.substr(0, int_digits), ".", digits.substr(int_digits));
    }
  }
  return out;
}

std::string Nf4QuantStateJson(const Nf4Tensor& tensor, const std::vector<int64_t>& shape, DType dtype) {
  // Key order of bitsandbytes' QuantState.as_dict(packed=True), written by json.dumps.
  std::string text = absl::StrCat("{\"quant_type\": \"nf4\", \"blocksize\": ", kNf4BlockSize, ", \"dtype\": \"",
                                  TorchDTypeName(dtype), "\", \"shape\": ", PythonIntList(shape));
  if (IsDoubleQuant(tensor.statistics)) {
    absl::StrAppend(&text, ", \"nested_blocksize\": ", kNf4AbsmaxBlockSize,
                    ", \"nested_dtype\": \"float32\", \"nested_offset\": ",
                    PythonFloatRepr(static_cast<double>(tensor.offset)));
  }
  return text + "}";
}

absl::StatusOr<Nf4Tensor> ReadNf4Weight(const HfModel& hf, const std::string& name,
                                        const std::vector<int64_t>& shape) {
  if (!hf.quantization.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(hf.dir, ": config.json has no bitsandbytes 4-bit quantization_config; ", name, " is not NF4"));
  }
  const Nf4WeightReader reader(hf, name);
  const bool double_quant = hf.quantization->double_quant;
  Nf4Tensor t;
  t.statistics = double_quant ? Nf4Statistics::kDoubleQuant : Nf4Statistics::kFp32Absmax;
  t.numel = NumElements(shape);
  if (shape.size() != 2 || t.numel < 1) return reader.Error("shape ", ShapeString(shape), " is not a 2-D weight");
  const int64_t blocks = Nf4Blocks(t.numel);

  ASSIGN_OR_RETURN(TensorView packed, reader.Part("", DType::kU8, {(t.numel + 1) / 2, 1}));
  t.packed.assign(packed.data.begin(), packed.data.end());
  ASSIGN_OR_RETURN(TensorView quant_map, reader.Part(kQuantMap, DType::kF32, {16}));
  if (!SameBits(ToFloats(quant_map), Nf4Code())) {
    return reader.Error("tensor ", name, kQuantMap, " is not the NF4 code table (bitsandbytes get_4bit_type(\"nf4\"))");
  }
  ASSIGN_OR_RETURN(t.offset, reader.QuantState(shape, double_quant));
  if (double_quant) {
    ASSIGN_OR_RETURN(TensorView qabsmax, reader.Part(kAbsmax, DType::kU8, {blocks}));
    t.qabsmax.assign(qabsmax.data.begin(), qabsmax.data.end());
    const int64_t blocks2 = (blocks + kNf4AbsmaxBlockSize - 1) / kNf4AbsmaxBlockSize;
    ASSIGN_OR_RETURN(TensorView absmax2, reader.Part(kNestedAbsmax, DType::kF32, {blocks2}));
    t.absmax2 = ToFloats(absmax2);
    ASSIGN_OR_RETURN(TensorView nested_map, reader.Part(kNestedQuantMap, DType::kF32, {kNf4AbsmaxBlockSize}));
    if (!SameBits(ToFloats(nested_map), Nf4DynamicMap())) {
      return reader.Error("tensor ", name, kNestedQuantMap,
                          " is not bitsandbytes' signed dynamic map (create_dynamic_map(signed=True))");
    }
    for (float a : t.absmax2) {
      if (!std::isfinite(a)) return reader.Error("tensor ", name, kNestedAbsmax, " holds a non-finite value");
    }
  } else {
    ASSIGN_OR_RETURN(TensorView absmax, reader.Part(kAbsmax, DType::kF32, {blocks}));
    t.absmax = ToFloats(absmax);
    for (float a : t.absmax) {
      if (!std::isfinite(a)) return reader.Error("tensor ", name, kAbsmax, " holds a non-finite value");
    }
  }
  return t;
}

absl::Status WriteNf4Model(const HfModel& hf, const std::string& out_dir, Nf4Statistics statistics) {
  if (hf.quantization.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(hf.dir, " is already bitsandbytes 4-bit quantised; quantise its unquantised source instead"));
  }
  std::error_code ec;
  if (std::filesystem::equivalent(hf.dir, out_dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("the output directory ", out_dir, " is the model's own directory"));
  }
  const std::string config_path = hf.dir + "/config.json";
  ASSIGN_OR_RETURN(std::string source_config, ReadFileToString(config_path));
  ASSIGN_OR_RETURN(std::string config_json,
                   QuantizedConfigJson(source_config, config_path, statistics, hf.config.dtype));

  std::deque<Tensor> owned;  // Backs the views below; a deque never moves its elements.
  std::vector<std::pair<std::string, TensorView>> tensors;
  auto keep = [&](std::string name, Tensor tensor) {
    owned.push_back(std::move(tensor));
    tensors.emplace_back(std::move(name), owned.back().view());
  };
  // transformers' state_dict order (which only decides sharding: the file itself is sorted by the writer).
  for (const HfTensorSpec& spec : LlamaTensorSpecs(hf.config)) {
    ASSIGN_OR_RETURN(TensorView source, hf.weights->Get(spec.name));
    if (!IsNf4QuantizedTensor(spec)) {
      tensors.emplace_back(spec.name, source);
      continue;
    }
    ASSIGN_OR_RETURN_CONTEXT(std::vector<float> values, ToF32(source), spec.name);
    absl::StatusOr<Nf4Tensor> quantized = QuantizeNf4(values, statistics);
    if (!quantized.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(hf.dir, ": ", spec.name, ": ", quantized.status().message()));
    }
    const Nf4Tensor& q = *quantized;
    const int64_t blocks = Nf4Blocks(q.numel);
    keep(spec.name, Tensor{DType::kU8, {static_cast<int64_t>(q.packed.size()), 1}, q.packed});
    if (IsDoubleQuant(statistics)) {
      keep(spec.name + kAbsmax, Tensor{DType::kU8, {blocks}, q.qabsmax});
    } else {
      keep(spec.name + kAbsmax, Tensor::FromF32({blocks}, q.absmax));
    }
    keep(spec.name + kQuantMap, Tensor::FromF32({16}, std::vector<float>(Nf4Code().begin(), Nf4Code().end())));
    if (IsDoubleQuant(statistics)) {
      keep(spec.name + kNestedAbsmax, Tensor::FromF32({static_cast<int64_t>(q.absmax2.size())}, q.absmax2));
      keep(spec.name + kNestedQuantMap,
           Tensor::FromF32({kNf4AbsmaxBlockSize}, std::vector<float>(Nf4DynamicMap().begin(), Nf4DynamicMap().end())));
    }
    const std::string state = Nf4QuantStateJson(q, spec.shape, source.dtype);
    keep(spec.name + kQuantState,
         Tensor{DType::kU8, {static_cast<int64_t>(state.size())}, std::vector<uint8_t>(state.begin(), state.end())});
  }
  return SaveHfModel(out_dir, config_json, tensors, hf.dir);
}

}  // namespace ftd
