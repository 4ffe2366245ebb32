// Parsing and writing config.json for the Llama family; see model_config.h. nlohmann_json is used with
// exceptions off (parse(..., false) and explicit type checks), so bad input becomes a Status, never a throw.
#include "model/model_config.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

using nlohmann::json;

constexpr const char* kSupportedArchitectures[] = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"};

absl::Status KeyError(absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("config.json: ", key, ": ", what));
}

bool Present(const json& obj, const char* key) { return obj.contains(key) && !obj[key].is_null(); }

absl::StatusOr<int64_t> GetInt(const json& obj, const char* key, std::optional<int64_t> fallback) {
  if (!Present(obj, key)) {
    if (fallback.has_value()) return *fallback;
    return KeyError(key, "required key is missing");
  }
  const json& v = obj[key];
  if (!v.is_number_integer()) return KeyError(key, absl::StrCat("expected an integer, got ", v.dump()));
  return v.get<int64_t>();
}

absl::StatusOr<double> GetDouble(const json& obj, const char* key, double fallback) {
  if (!Present(obj, key)) return fallback;
  const json& v = obj[key];
  if (!v.is_number()) return KeyError(key, absl::StrCat("expected a number, got ", v.dump()));
  return v.get<double>();
}

absl::StatusOr<bool> GetBool(const json& obj, const char* key, bool fallback) {
  if (!Present(obj, key)) return fallback;
  const json& v = obj[key];
  if (!v.is_boolean()) return KeyError(key, absl::StrCat("expected true or false, got ", v.dump()));
  return v.get<bool>();
}

absl::StatusOr<std::string> GetString(const json& obj, const char* key, const std::string& fallback) {
  if (!Present(obj, key)) return fallback;
  const json& v = obj[key];
  if (!v.is_string()) return KeyError(key, absl::StrCat("expected a string, got ", v.dump()));
  return v.get<std::string>();
}

// Reads a rope dict in either layout: old `rope_scaling` ({"type"|"rope_type": ..}) or new `rope_parameters`
// ({"rope_type": .., "rope_theta": ..}). `where` names the key for errors.
absl::Status ParseRope(const json& rope, const char* where, LlamaConfig* config) {
  if (!rope.is_object()) return KeyError(where, absl::StrCat("expected an object or null, got ", rope.dump()));
  std::string type = "default";
  if (Present(rope, "rope_type")) {
    ASSIGN_OR_RETURN(type, GetString(rope, "rope_type", "default"));
  } else if (Present(rope, "type")) {
    ASSIGN_OR_RETURN(type, GetString(rope, "type", "default"));
  }
  if (Present(rope, "rope_theta")) {
    ASSIGN_OR_RETURN(config->rope_theta, GetDouble(rope, "rope_theta", config->rope_theta));
  }
  RopeScaling& s = config->rope_scaling;
  if (type == "default") {
    s.type = RopeScalingType::kNone;
    return absl::OkStatus();
  }
  if (type != "linear" && type != "llama3") {
    return KeyError(where, absl::StrCat("rope type \"", type,
                                        "\" is not supported (supported: default, linear, llama3)"));
  }
  s.type = type == "linear" ? RopeScalingType::kLinear : RopeScalingType::kLlama3;
  if (!Present(rope, "factor")) return KeyError(where, absl::StrCat("rope type \"", type, "\" needs \"factor\""));
  ASSIGN_OR_RETURN(s.factor, GetDouble(rope, "factor", 1.0));
  if (s.factor <= 0) return KeyError(where, "factor must be positive");
  if (s.type == RopeScalingType::kLlama3) {
    ASSIGN_OR_RETURN(s.low_freq_factor, GetDouble(rope, "low_freq_factor", 1.0));
    ASSIGN_OR_RETURN(s.high_freq_factor, GetDouble(rope, "high_freq_factor", 4.0));
    ASSIGN_OR_RETURN(s.original_max_position_embeddings,
                     GetInt(rope, "original_max_position_embeddings", std::nullopt));
    if (s.high_freq_factor <= s.low_freq_factor) {
      return KeyError(where, "llama3 rope needs high_freq_factor > low_freq_factor");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseInto(const json& j, LlamaConfig* c) {
  if (!j.is_object()) return absl::InvalidArgumentError("config.json: expected a JSON object");
  ASSIGN_OR_RETURN(c->model_type, GetString(j, "model_type", ""));
  if (Present(j, "architectures")) {
    const json& a = j["architectures"];
    if (!a.is_array() || a.empty() || !a[0].is_string()) {
      return KeyError("architectures", "expected a non-empty list of strings");
    }
    c->architecture = a[0].get<std::string>();
  } else if (c->model_type == "mistral") {
    c->architecture = "MistralForCausalLM";
  } else if (c->model_type == "qwen2") {
    c->architecture = "Qwen2ForCausalLM";
  } else if (c->model_type == "llama") {
    c->architecture = "LlamaForCausalLM";
  } else {
    c->architecture = absl::StrCat("(model_type ", c->model_type.empty() ? "missing" : c->model_type, ")");
  }
  bool supported = false;
  for (const char* a : kSupportedArchitectures) supported |= c->architecture == a;
  if (!supported) {
    return absl::InvalidArgumentError(absl::StrCat("architecture \"", c->architecture,
                                                   "\" is not supported (supported: ",
                                                   absl::StrJoin(kSupportedArchitectures, ", "), ")"));
  }
  const std::string expected_type = c->architecture == "MistralForCausalLM" ? "mistral"
                                    : c->architecture == "Qwen2ForCausalLM" ? "qwen2"
                                                                            : "llama";
  if (c->model_type.empty()) c->model_type = expected_type;
  if (c->model_type != expected_type) {
    return KeyError("model_type", absl::StrCat("\"", c->model_type, "\" does not match architecture ",
                                               c->architecture, " (expected \"", expected_type, "\")"));
  }
  const bool qwen2 = c->model_type == "qwen2";
  const bool mistral = c->model_type == "mistral";

  ASSIGN_OR_RETURN(c->hidden_size, GetInt(j, "hidden_size", std::nullopt));
  ASSIGN_OR_RETURN(c->intermediate_size, GetInt(j, "intermediate_size", std::nullopt));
  ASSIGN_OR_RETURN(c->num_hidden_layers, GetInt(j, "num_hidden_layers", std::nullopt));
  ASSIGN_OR_RETURN(c->num_attention_heads, GetInt(j, "num_attention_heads", std::nullopt));
  ASSIGN_OR_RETURN(c->vocab_size, GetInt(j, "vocab_size", std::nullopt));
  ASSIGN_OR_RETURN(c->num_key_value_heads, GetInt(j, "num_key_value_heads", c->num_attention_heads));
  for (auto [key, v] : {std::pair{"hidden_size", c->hidden_size}, {"intermediate_size", c->intermediate_size},
                        {"num_hidden_layers", c->num_hidden_layers},
                        {"num_attention_heads", c->num_attention_heads}, {"vocab_size", c->vocab_size},
                        {"num_key_value_heads", c->num_key_value_heads}}) {
    if (v <= 0) return KeyError(key, absl::StrCat("must be positive, got ", v));
  }
  if (c->num_attention_heads % c->num_key_value_heads != 0) {
    return KeyError("num_key_value_heads", absl::StrCat(c->num_key_value_heads, " does not divide num_attention_heads ",
                                                        c->num_attention_heads));
  }
  if (!Present(j, "head_dim") && c->hidden_size % c->num_attention_heads != 0) {
    return KeyError("num_attention_heads", "does not divide hidden_size and no head_dim is given");
  }
  ASSIGN_OR_RETURN(c->head_dim, GetInt(j, "head_dim", c->hidden_size / c->num_attention_heads));
  if (c->head_dim <= 0 || c->head_dim % 2 != 0) return KeyError("head_dim", "must be positive and even (RoPE)");
  ASSIGN_OR_RETURN(c->max_position_embeddings,
                   GetInt(j, "max_position_embeddings", mistral ? 4096 * 32 : qwen2 ? 32768 : 2048));
  ASSIGN_OR_RETURN(c->rms_norm_eps, GetDouble(j, "rms_norm_eps", 1e-6));
  ASSIGN_OR_RETURN(c->rope_theta, GetDouble(j, "rope_theta", 10000.0));
  // rope_parameters (transformers v5) wins over the old rope_scaling + rope_theta pair.
  if (Present(j, "rope_parameters")) {
    RETURN_IF_ERROR(ParseRope(j["rope_parameters"], "rope_parameters", c));
  } else if (Present(j, "rope_scaling")) {
    RETURN_IF_ERROR(ParseRope(j["rope_scaling"], "rope_scaling", c));
  }
  ASSIGN_OR_RETURN(c->tie_word_embeddings, GetBool(j, "tie_word_embeddings", false));
  if (qwen2) {
    c->qkv_bias = true;  // Qwen2Attention: q/k/v Linear(bias=True), o_proj bias=False; no config key.
    c->o_proj_bias = false;
    c->mlp_bias = false;
  } else {
    ASSIGN_OR_RETURN(bool attention_bias, GetBool(j, "attention_bias", false));
    c->qkv_bias = c->o_proj_bias = attention_bias;
    ASSIGN_OR_RETURN(c->mlp_bias, GetBool(j, "mlp_bias", false));
  }
  // Sliding-window attention is not implemented: refuse configs where it would change the result.
  if (mistral && Present(j, "sliding_window")) {
    ASSIGN_OR_RETURN(int64_t window, GetInt(j, "sliding_window", std::nullopt));
    return KeyError("sliding_window",
                    absl::StrCat(window, " is not supported: sliding-window attention is not implemented "
                                         "(Mistral-7B-v0.1 uses it; v0.2 and later set it to null)"));
  }
  if (qwen2) {
    ASSIGN_OR_RETURN(bool use_sliding_window, GetBool(j, "use_sliding_window", false));
    if (use_sliding_window) {
      return KeyError("use_sliding_window", "true is not supported: sliding-window attention is not implemented");
    }
  }
  std::string dtype_name;
  if (Present(j, "dtype")) {
    ASSIGN_OR_RETURN(dtype_name, GetString(j, "dtype", ""));
  } else {
    ASSIGN_OR_RETURN(dtype_name, GetString(j, "torch_dtype", "float32"));
  }
  absl::StatusOr<DType> dtype = ParseTorchDType(dtype_name);
  if (!dtype.ok()) return KeyError(Present(j, "dtype") ? "dtype" : "torch_dtype", dtype.status().message());
  c->dtype = *dtype;
  if (Present(j, "bos_token_id")) {
    ASSIGN_OR_RETURN(c->bos_token_id, GetInt(j, "bos_token_id", std::nullopt));
  }
  if (Present(j, "pad_token_id")) {
    ASSIGN_OR_RETURN(c->pad_token_id, GetInt(j, "pad_token_id", std::nullopt));
  }
  if (Present(j, "eos_token_id")) {
    const json& eos = j["eos_token_id"];
    if (eos.is_number_integer()) {
      c->eos_token_ids = {eos.get<int64_t>()};
    } else if (eos.is_array()) {
      for (const json& e : eos) {
        if (!e.is_number_integer()) return KeyError("eos_token_id", "expected an integer or a list of integers");
        c->eos_token_ids.push_back(e.get<int64_t>());
      }
    } else {
      return KeyError("eos_token_id", absl::StrCat("expected an integer or a list of integers, got ", eos.dump()));
    }
  }
  ASSIGN_OR_RETURN(c->initializer_range, GetDouble(j, "initializer_range", 0.02));
  ASSIGN_OR_RETURN(c->hidden_act, GetString(j, "hidden_act", "silu"));
  if (c->hidden_act != "silu") {
    return KeyError("hidden_act", absl::StrCat("\"", c->hidden_act, "\" is not supported (supported: silu)"));
  }
  return absl::OkStatus();
}

json RopeScalingJson(const RopeScaling& s) {
  if (s.type == RopeScalingType::kNone) return nullptr;
  json r = {{"rope_type", RopeScalingTypeName(s.type)}, {"factor", s.factor}};
  if (s.type == RopeScalingType::kLlama3) {
    r["low_freq_factor"] = s.low_freq_factor;
    r["high_freq_factor"] = s.high_freq_factor;
    r["original_max_position_embeddings"] = s.original_max_position_embeddings;
  }
  return r;
}

}  // namespace

absl::string_view RopeScalingTypeName(RopeScalingType type) {
  switch (type) {
    case RopeScalingType::kNone:
      return "default";
    case RopeScalingType::kLinear:
      return "linear";
    case RopeScalingType::kLlama3:
      return "llama3";
  }
  return "?";
}

absl::StatusOr<DType> ParseTorchDType(absl::string_view name) {
  if (name == "float32" || name == "torch.float32" || name == "float") return DType::kF32;
  if (name == "bfloat16" || name == "torch.bfloat16") return DType::kBF16;
  if (name == "float16" || name == "torch.float16" || name == "half") return DType::kF16;
  return absl::InvalidArgumentError(
      absl::StrCat("torch dtype \"", name, "\" is not supported (supported: float32, bfloat16, float16)"));
}

absl::string_view TorchDTypeName(DType dtype) {
  switch (dtype) {
    case DType::kBF16:
      return "bfloat16";
    case DType::kF16:
      return "float16";
    case DType::kF64:
      return "float64";
    default:
      return "float32";
  }
}

absl::StatusOr<LlamaConfig> ParseLlamaConfig(absl::string_view json_text) {
  json j = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("config.json: not valid JSON");
  LlamaConfig config;
  RETURN_IF_ERROR(ParseInto(j, &config));
  return config;
}

absl::StatusOr<LlamaConfig> LoadLlamaConfig(const std::string& path) {
  std::error_code ec;
  const std::string file = std::filesystem::is_directory(path, ec) ? path + "/config.json" : path;
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(file));
  absl::StatusOr<LlamaConfig> config = ParseLlamaConfig(text);
  if (!config.ok()) return Annotate(config.status(), file);
  return config;
}

std::string LlamaConfigToJson(const LlamaConfig& c) {
  json j = json::object();
  j["architectures"] = {c.architecture};
  j["model_type"] = c.model_type;
  j["attention_dropout"] = 0.0;
  if (c.bos_token_id.has_value()) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_ids.size() == 1) {
    j["eos_token_id"] = c.eos_token_ids[0];
  } else if (!c.eos_token_ids.empty()) {
    j["eos_token_id"] = c.eos_token_ids;
  }
  if (c.pad_token_id.has_value()) j["pad_token_id"] = *c.pad_token_id;
  j["hidden_act"] = c.hidden_act;
  j["hidden_size"] = c.hidden_size;
  j["initializer_range"] = c.initializer_range;
  j["intermediate_size"] = c.intermediate_size;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_scaling"] = RopeScalingJson(c.rope_scaling);
  j["rope_theta"] = c.rope_theta;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["torch_dtype"] = TorchDTypeName(c.dtype);
  j["use_cache"] = true;
  j["vocab_size"] = c.vocab_size;
  if (c.model_type == "qwen2") {
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
    j["max_window_layers"] = c.num_hidden_layers;
  } else {
    j["head_dim"] = c.head_dim;
    if (c.model_type == "mistral") {
      j["sliding_window"] = nullptr;
    } else {
      j["attention_bias"] = c.qkv_bias;
      j["mlp_bias"] = c.mlp_bias;
      j["pretraining_tp"] = 1;
    }
  }
  return j.dump(2) + "\n";
}

ParameterCounts CountParameters(const LlamaConfig& c) {
  ParameterCounts p;
  const int64_t d = c.hidden_size;
  p.embed = c.vocab_size * d;
  const int64_t attn_layer = d * c.q_dim() + 2 * d * c.kv_dim() + c.q_dim() * d +
                             (c.qkv_bias ? c.q_dim() + 2 * c.kv_dim() : 0) + (c.o_proj_bias ? d : 0);
  const int64_t mlp_layer = 3 * d * c.intermediate_size + (c.mlp_bias ? 2 * c.intermediate_size + d : 0);
  p.attention = c.num_hidden_layers * attn_layer;
  p.mlp = c.num_hidden_layers * mlp_layer;
  p.norm = (2 * c.num_hidden_layers + 1) * d;
  p.lm_head = c.tie_word_embeddings ? 0 : c.vocab_size * d;
  return p;
}

}  // namespace ftd
