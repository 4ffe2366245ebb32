// Model-directory layout, loading with shape checks, and saving; see hf_model.h.
#include "model/hf_model.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTokenizerFiles[] = {"tokenizer.json",         "tokenizer_config.json",
                                           "special_tokens_map.json", "tokenizer.model",
                                           "generation_config.json", "chat_template.jinja"};

// A quantization_config key ftd cannot load (UNIMPLEMENTED) or whose value is mistyped (INVALID_ARGUMENT).
absl::Status QuantUnsupported(absl::string_view key, absl::string_view what) {
  return absl::UnimplementedError(absl::StrCat("quantization_config.", key, ": ", what));
}
absl::Status QuantInvalid(absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("quantization_config.", key, ": ", what));
}

bool QuantPresent(const nlohmann::json& q, const char* key) { return q.contains(key) && !q[key].is_null(); }

absl::StatusOr<bool> QuantBool(const nlohmann::json& q, const char* key) {
  if (!QuantPresent(q, key)) return false;  // BitsAndBytesConfig's default for every flag read here.
  if (!q[key].is_boolean()) return QuantInvalid(key, absl::StrCat("expected true or false, got ", q[key].dump()));
  return q[key].get<bool>();
}

absl::StatusOr<std::string> QuantString(const nlohmann::json& q, const char* key, const std::string& fallback) {
  if (!QuantPresent(q, key)) return fallback;
  if (!q[key].is_string()) return QuantInvalid(key, absl::StrCat("expected a string, got ", q[key].dump()));
  return q[key].get<std::string>();
}

// ceil(numel / 2) x 1: bitsandbytes' packed layout of a 4-bit weight (Params4bit with quant_storage uint8).
std::vector<int64_t> PackedNf4Shape(const std::vector<int64_t>& shape) {
  return {(NumElements(shape) + 1) / 2, 1};
}

}  // namespace

absl::StatusOr<std::optional<HfQuantization>> ParseHfQuantization(absl::string_view config_json) {
  const nlohmann::json j =
      nlohmann::json::parse(config_json.begin(), config_json.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("not a JSON object");
  if (!j.contains("quantization_config") || j["quantization_config"].is_null()) return std::nullopt;
  const nlohmann::json& q = j["quantization_config"];
  if (!q.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("quantization_config: expected an object, got ", q.dump()));
  }
  constexpr const char* kSupported = "supported: bitsandbytes 4-bit nf4";
  ASSIGN_OR_RETURN(std::string method, QuantString(q, "quant_method", ""));
  if (method != "bitsandbytes") {
    return QuantUnsupported("quant_method", absl::StrCat("\"", method, "\" is not supported (", kSupported, ")"));
  }
  ASSIGN_OR_RETURN(bool load_in_8bit, QuantBool(q, "load_in_8bit"));
  if (load_in_8bit) {
    return QuantUnsupported("load_in_8bit",
                            absl::StrCat("8-bit (LLM.int8) weights are not supported (", kSupported, ")"));
  }
  ASSIGN_OR_RETURN(bool load_in_4bit, QuantBool(q, "load_in_4bit"));
  if (!load_in_4bit) return QuantUnsupported("load_in_4bit", absl::StrCat("is not true (", kSupported, ")"));
  // BitsAndBytesConfig defaults to fp4 when the key is absent.
  ASSIGN_OR_RETURN(std::string quant_type, QuantString(q, "bnb_4bit_quant_type", "fp4"));
  if (quant_type != "nf4") {
    return QuantUnsupported("bnb_4bit_quant_type",
                            absl::StrCat("\"", quant_type, "\" is not supported (", kSupported, ")"));
  }
  ASSIGN_OR_RETURN(std::string storage, QuantString(q, "bnb_4bit_quant_storage", "uint8"));
  if (storage != "uint8") {
    return QuantUnsupported("bnb_4bit_quant_storage", absl::StrCat("\"", storage, "\" is not supported (uint8 only)"));
  }
  // transformers never quantises lm_head; skipping anything else would leave projections floating, which
  // IsNf4QuantizedTensor does not describe.
  if (QuantPresent(q, "llm_int8_skip_modules")) {
    const nlohmann::json& skip = q["llm_int8_skip_modules"];
    if (!skip.is_array()) return QuantInvalid("llm_int8_skip_modules", "expected a list of module names or null");
    for (const nlohmann::json& m : skip) {
      if (!m.is_string() || m.get<std::string>() != "lm_head") {
        return QuantUnsupported("llm_int8_skip_modules",
                                absl::StrCat(m.dump(), " is not supported (only lm_head may be skipped)"));
      }
    }
  }
  HfQuantization quantization;
  ASSIGN_OR_RETURN(quantization.double_quant, QuantBool(q, "bnb_4bit_use_double_quant"));
  return quantization;
}

bool IsNf4QuantizedTensor(const HfTensorSpec& spec) {
  return spec.kind == HfTensorKind::kLinear && spec.name != "lm_head.weight";
}

const std::vector<std::string>& LlamaLinearModules() {
  static const auto* modules = new std::vector<std::string>{
      "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
      "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
  return *modules;
}

std::vector<HfTensorSpec> LlamaTensorSpecs(const LlamaConfig& c) {
  const int64_t d = c.hidden_size;
  const int64_t ff = c.intermediate_size;
  std::vector<HfTensorSpec> specs;
  specs.push_back({"model.embed_tokens.weight", {c.vocab_size, d}, HfTensorKind::kEmbedding});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    specs.push_back({p + "self_attn.q_proj.weight", {c.q_dim(), d}, HfTensorKind::kLinear});
    if (c.qkv_bias) specs.push_back({p + "self_attn.q_proj.bias", {c.q_dim()}, HfTensorKind::kBias});
    specs.push_back({p + "self_attn.k_proj.weight", {c.kv_dim(), d}, HfTensorKind::kLinear});
    if (c.qkv_bias) specs.push_back({p + "self_attn.k_proj.bias", {c.kv_dim()}, HfTensorKind::kBias});
    specs.push_back({p + "self_attn.v_proj.weight", {c.kv_dim(), d}, HfTensorKind::kLinear});
    if (c.qkv_bias) specs.push_back({p + "self_attn.v_proj.bias", {c.kv_dim()}, HfTensorKind::kBias});
    specs.push_back({p + "self_attn.o_proj.weight", {d, c.q_dim()}, HfTensorKind::kLinear});
    if (c.o_proj_bias) specs.push_back({p + "self_attn.o_proj.bias", {d}, HfTensorKind::kBias});
    specs.push_back({p + "mlp.gate_proj.weight", {ff, d}, HfTensorKind::kLinear});
    if (c.mlp_bias) specs.push_back({p + "mlp.gate_proj.bias", {ff}, HfTensorKind::kBias});
    specs.push_back({p + "mlp.up_proj.weight", {ff, d}, HfTensorKind::kLinear});
    if (c.mlp_bias) specs.push_back({p + "mlp.up_proj.bias", {ff}, HfTensorKind::kBias});
    specs.push_back({p + "mlp.down_proj.weight", {d, ff}, HfTensorKind::kLinear});
    if (c.mlp_bias) specs.push_back({p + "mlp.down_proj.bias", {d}, HfTensorKind::kBias});
    specs.push_back({p + "input_layernorm.weight", {d}, HfTensorKind::kNorm});
    specs.push_back({p + "post_attention_layernorm.weight", {d}, HfTensorKind::kNorm});
  }
  specs.push_back({"model.norm.weight", {d}, HfTensorKind::kNorm});
  if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", {c.vocab_size, d}, HfTensorKind::kLinear});
  return specs;
}

absl::StatusOr<HfModel> LoadHfModel(const std::string& dir) {
  HfModel model;
  model.dir = dir;
  ASSIGN_OR_RETURN(model.config, LoadLlamaConfig(dir + "/config.json"));
  {
    ASSIGN_OR_RETURN(std::string config_text, ReadFileToString(dir + "/config.json"));
    ASSIGN_OR_RETURN_CONTEXT(model.quantization, ParseHfQuantization(config_text), dir + "/config.json");
  }
  ASSIGN_OR_RETURN(model.weights, SafetensorsModel::OpenDir(dir));
  for (const HfTensorSpec& spec : LlamaTensorSpecs(model.config)) {
    absl::StatusOr<TensorView> t = model.weights->Get(spec.name);
    if (!t.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": tensor ", spec.name, " that config.json implies is missing from the weights"));
    }
    if (model.quantization.has_value() && IsNf4QuantizedTensor(spec)) {
      const std::vector<int64_t> packed = PackedNf4Shape(spec.shape);
      if (t->dtype != DType::kU8 || t->shape != packed) {
        return absl::InvalidArgumentError(absl::StrCat(
            dir, ": tensor ", spec.name, " is ", DTypeName(t->dtype), " ", ShapeString(t->shape),
            "; a bitsandbytes 4-bit directory stores this ", ShapeString(spec.shape), " weight as U8 ",
            ShapeString(packed)));
      }
      continue;
    }
    if (t->shape != spec.shape) {
      return absl::InvalidArgumentError(absl::StrCat(dir, ": tensor ", spec.name, " has shape ",
                                                     ShapeString(t->shape), ", config.json implies ",
                                                     ShapeString(spec.shape)));
    }
    if (!IsFloating(t->dtype)) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": tensor ", spec.name, " has non-floating dtype ", DTypeName(t->dtype)));
    }
  }
  return model;
}

std::vector<std::string> TokenizerFileNames(const std::string& dir) {
  std::vector<std::string> names;
  for (const char* name : kTokenizerFiles) {
    std::error_code ec;
    if (fs::is_regular_file(fs::path(dir) / name, ec)) names.push_back(name);
  }
  return names;
}

absl::Status CopyTokenizerFiles(const std::string& from_dir, const std::string& to_dir) {
  for (const std::string& name : TokenizerFileNames(from_dir)) {
    std::error_code ec;
    fs::copy_file(fs::path(from_dir) / name, fs::path(to_dir) / name, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("copying ", from_dir, "/", name, " to ", to_dir, ": ", ec.message()));
    }
    // Files copied from read-only sources (shared data) must stay writable for later saves into `to_dir`.
    fs::permissions(fs::path(to_dir) / name, fs::perms::owner_write, fs::perm_options::add, ec);
  }
  return absl::OkStatus();
}

absl::Status SaveHfModel(const std::string& dir, const std::string& config_json,
                         const std::vector<std::pair<std::string, TensorView>>& tensors,
                         const std::string& tokenizer_dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", dir, ": ", ec.message()));
  RETURN_IF_ERROR(WriteStringToFile(dir + "/config.json", config_json));
  RETURN_IF_ERROR(WriteSafetensorsModel(dir, tensors));
  if (!tokenizer_dir.empty()) RETURN_IF_ERROR(CopyTokenizerFiles(tokenizer_dir, dir));
  return absl::OkStatus();
}

}  // namespace ftd
