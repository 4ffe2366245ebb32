// PEFT LoRA adapter files, initialisation and merging; see peft_adapter.h.
#include "model/peft_adapter.h"

#include <cmath>
#include <filesystem>
#include <list>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "model/hf_model.h"
#include "model/safetensors.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

using nlohmann::json;

constexpr absl::string_view kKeyPrefix = "base_model.model.model.layers.";

absl::Status ConfigError(absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("adapter_config.json: ", key, ": ", what));
}

bool Present(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

// True when `key` is absent, null, false, or an empty object/array: PEFT's "feature off" values.
bool Off(const json& j, const char* key) {
  if (!Present(j, key)) return true;
  const json& v = j[key];
  if (v.is_boolean()) return !v.get<bool>();
  if (v.is_object() || v.is_array()) return v.empty();
  return false;
}

// (in, out) of a projection in a model of config `c`.
std::pair<int64_t, int64_t> ModuleInOut(const LlamaConfig& c, absl::string_view module) {
  if (module == "self_attn.q_proj") return {c.hidden_size, c.q_dim()};
  if (module == "self_attn.k_proj" || module == "self_attn.v_proj") return {c.hidden_size, c.kv_dim()};
  if (module == "self_attn.o_proj") return {c.q_dim(), c.hidden_size};
  if (module == "mlp.down_proj") return {c.intermediate_size, c.hidden_size};
  return {c.hidden_size, c.intermediate_size};  // gate_proj, up_proj.
}

// Parses a PEFT tensor key into (layer, module, is_b). INVALID_ARGUMENT for anything else.
absl::Status ParsePeftKey(absl::string_view name, LoraKey* key, bool* is_b) {
  absl::string_view rest = name;
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("adapter tensor \"", name, "\": ", why));
  };
  if (!absl::ConsumePrefix(&rest, kKeyPrefix)) {
    return bad(absl::StrCat("not a LoRA weight of a decoder layer (expected \"", kKeyPrefix, "{i}.<module>.lora_A.weight\")"));
  }
  const size_t dot = rest.find('.');
  if (dot == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(0, dot), &key->layer) || key->layer < 0) {
    return bad("no layer index");
  }
  rest.remove_prefix(dot + 1);
  size_t pos = rest.find(".lora_A.");
  *is_b = false;
  if (pos == absl::string_view::npos) {
    pos = rest.find(".lora_B.");
    *is_b = true;
  }
  if (pos == absl::string_view::npos) return bad("neither lora_A nor lora_B (DoRA and embeddings are not supported)");
  key->module = std::string(rest.substr(0, pos));
  absl::string_view suffix = rest.substr(pos + 8);
  if (suffix != "weight" && suffix != "default.weight") return bad("expected it to end in \"weight\"");
  for (const std::string& m : LlamaLinearModules()) {
    if (m == key->module) return absl::OkStatus();
  }
  return bad(absl::StrCat("module \"", key->module, "\" is not a projection of a Llama decoder layer"));
}

Tensor CopyTensor(const TensorView& view) {
  Tensor t;
  t.dtype = view.dtype;
  t.shape = view.shape;
  t.data.assign(view.data.begin(), view.data.end());
  return t;
}

}  // namespace

double LoraScale(const LoraConfig& c) {
  return c.use_rslora ? c.lora_alpha / std::sqrt(static_cast<double>(c.r)) : c.lora_alpha / static_cast<double>(c.r);
}

bool TargetsModule(const LoraConfig& config, absl::string_view module) {
  if (config.all_linear) return true;
  const std::string full = absl::StrCat("model.layers.0.", module);
  for (const std::string& target : config.target_modules) {
    if (full == target || absl::EndsWith(full, absl::StrCat(".", target))) return true;
  }
  return false;
}

absl::StatusOr<LoraConfig> ParseLoraConfig(absl::string_view json_text) {
  json j = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("adapter_config.json: not a JSON object");
  LoraConfig c;
  if (Present(j, "peft_type")) {
    if (!j["peft_type"].is_string()) return ConfigError("peft_type", "expected a string");
    c.peft_type = j["peft_type"].get<std::string>();
    if (c.peft_type != "LORA") return ConfigError("peft_type", absl::StrCat("\"", c.peft_type, "\" is not supported (supported: LORA)"));
  }
  if (!Present(j, "r") || !j["r"].is_number_integer() || j["r"].get<int64_t>() <= 0) {
    return ConfigError("r", "expected a positive integer");
  }
  c.r = j["r"].get<int64_t>();
  if (Present(j, "lora_alpha")) {
    if (!j["lora_alpha"].is_number()) return ConfigError("lora_alpha", "expected a number");
    c.lora_alpha = j["lora_alpha"].get<double>();
  } else {
    c.lora_alpha = 8.0;  // PEFT's default.
  }
  if (Present(j, "lora_dropout")) {
    if (!j["lora_dropout"].is_number()) return ConfigError("lora_dropout", "expected a number");
    c.lora_dropout = j["lora_dropout"].get<double>();
  }
  for (const char* key : {"use_rslora", "fan_in_fan_out"}) {
    if (Present(j, key) && !j[key].is_boolean()) return ConfigError(key, "expected true or false");
  }
  c.use_rslora = Present(j, "use_rslora") && j["use_rslora"].get<bool>();
  if (!Present(j, "target_modules")) return ConfigError("target_modules", "required key is missing");
  const json& t = j["target_modules"];
  c.target_modules.clear();
  if (t.is_string()) {
    if (t.get<std::string>() != "all-linear") {
      return ConfigError("target_modules", absl::StrCat("a regular expression (", t.dump(),
                                                        ") is not supported: give a list of module names or \"all-linear\""));
    }
    c.all_linear = true;
  } else if (t.is_array()) {
    for (const json& m : t) {
      if (!m.is_string()) return ConfigError("target_modules", "expected a list of strings");
      c.target_modules.push_back(m.get<std::string>());
    }
  } else {
    return ConfigError("target_modules", "expected a list of strings or \"all-linear\"");
  }
  if (Present(j, "bias")) c.bias = j["bias"].is_string() ? j["bias"].get<std::string>() : "?";
  if (c.bias != "none") return ConfigError("bias", absl::StrCat("\"", c.bias, "\" is not supported (supported: none)"));
  if (Present(j, "task_type") && j["task_type"].is_string()) c.task_type = j["task_type"].get<std::string>();
  if (Present(j, "base_model_name_or_path") && j["base_model_name_or_path"].is_string()) {
    c.base_model_name_or_path = j["base_model_name_or_path"].get<std::string>();
  }
  if (!Off(j, "fan_in_fan_out")) return ConfigError("fan_in_fan_out", "true is not supported (Llama has nn.Linear)");
  for (const char* key : {"use_dora", "rank_pattern", "alpha_pattern", "modules_to_save", "layer_replication", "lora_bias",
                          "exclude_modules", "trainable_token_indices", "target_parameters", "use_qalora"}) {
    if (!Off(j, key)) return ConfigError(key, absl::StrCat(j[key].dump(), " is not supported"));
  }
  return c;
}

std::string LoraConfigToJson(const LoraConfig& c) {
  json j = json::object();
  j["alpha_pattern"] = json::object();
  j["auto_mapping"] = nullptr;
  j["base_model_name_or_path"] = c.base_model_name_or_path;
  j["bias"] = c.bias;
  j["fan_in_fan_out"] = c.fan_in_fan_out;
  j["inference_mode"] = true;
  j["init_lora_weights"] = true;
  j["layer_replication"] = nullptr;
  j["layers_pattern"] = nullptr;
  j["layers_to_transform"] = nullptr;
  j["loftq_config"] = json::object();
  if (c.lora_alpha == std::floor(c.lora_alpha) && std::abs(c.lora_alpha) < 1e15) {
    j["lora_alpha"] = static_cast<int64_t>(c.lora_alpha);  // PEFT users write integers; keep them integers.
  } else {
    j["lora_alpha"] = c.lora_alpha;
  }
  j["lora_dropout"] = c.lora_dropout;
  j["megatron_config"] = nullptr;
  j["megatron_core"] = "megatron.core";
  j["modules_to_save"] = nullptr;
  j["peft_type"] = c.peft_type;
  j["r"] = c.r;
  j["rank_pattern"] = json::object();
  j["revision"] = nullptr;
  if (c.all_linear) {
    j["target_modules"] = "all-linear";
  } else {
    j["target_modules"] = c.target_modules;
  }
  j["task_type"] = c.task_type;
  j["use_dora"] = false;
  j["use_rslora"] = c.use_rslora;
  return j.dump(2) + "\n";
}

std::string PeftTensorName(const LoraKey& key, bool lora_b) {
  return absl::StrCat(kKeyPrefix, key.layer, ".", key.module, lora_b ? ".lora_B.weight" : ".lora_A.weight");
}

absl::StatusOr<LoraAdapter> InitLoraAdapter(const LoraConfig& config, const LlamaConfig& model_config,
                                            uint64_t seed) {
  if (config.r <= 0) return absl::InvalidArgumentError(absl::StrCat("LoRA rank r must be positive, got ", config.r));
  LoraAdapter adapter;
  adapter.config = config;
  std::mt19937_64 engine(seed);
  for (int64_t layer = 0; layer < model_config.num_hidden_layers; ++layer) {
    for (const std::string& module : LlamaLinearModules()) {
      if (!TargetsModule(config, module)) continue;
      const auto [in, out] = ModuleInOut(model_config, module);
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      std::vector<float> a(static_cast<size_t>(config.r * in));
      for (float& v : a) {
        const double u = static_cast<double>(engine() >> 11) * 0x1.0p-53;  // [0, 1), platform-independent.
        v = static_cast<float>((2.0 * u - 1.0) * bound);
      }
      adapter.weights[LoraKey{layer, module}] =
          LoraPair{Tensor::FromF32({config.r, in}, a), Tensor::Zeros(DType::kF32, {out, config.r})};
    }
  }
  if (adapter.weights.empty()) {
    return absl::InvalidArgumentError("target_modules matches no projection of the model");
  }
  return adapter;
}

absl::Status WriteLoraAdapter(const std::string& dir, const LoraAdapter& adapter) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", dir, ": ", ec.message()));
  RETURN_IF_ERROR(WriteStringToFile(dir + "/adapter_config.json", LoraConfigToJson(adapter.config)));
  std::vector<std::pair<std::string, TensorView>> tensors;
  for (const auto& [key, pair] : adapter.weights) {
    tensors.emplace_back(PeftTensorName(key, false), pair.a.view());
    tensors.emplace_back(PeftTensorName(key, true), pair.b.view());
  }
  return WriteSafetensors(dir + "/adapter_model.safetensors", tensors, {{"format", "pt"}});
}

absl::StatusOr<LoraAdapter> ReadLoraAdapter(const std::string& dir) {
  LoraAdapter adapter;
  ASSIGN_OR_RETURN(std::string config_text, ReadFileToString(dir + "/adapter_config.json"));
  absl::StatusOr<LoraConfig> config = ParseLoraConfig(config_text);
  if (!config.ok()) return Annotate(config.status(), dir);
  adapter.config = *std::move(config);
  std::error_code ec;
  if (!std::filesystem::exists(dir + "/adapter_model.safetensors", ec) &&
      std::filesystem::exists(dir + "/adapter_model.bin", ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, ": adapter_model.bin (pickle) is not supported; save the adapter with safe_serialization=True"));
  }
  ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(dir + "/adapter_model.safetensors"));
  std::set<LoraKey> seen_a, seen_b;
  for (const std::string& name : file->names()) {
    LoraKey key;
    bool is_b = false;
    absl::Status parsed = ParsePeftKey(name, &key, &is_b);
    if (!parsed.ok()) return Annotate(parsed, file->path());
    ASSIGN_OR_RETURN(TensorView view, file->Get(name));
    if (!IsFloating(view.dtype) || view.shape.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(file->path(), ": ", name, " must be a floating matrix, is ",
                                                     DTypeName(view.dtype), " ", ShapeString(view.shape)));
    }
    const int64_t rank = is_b ? view.shape[1] : view.shape[0];
    if (rank != adapter.config.r) {
      return absl::InvalidArgumentError(absl::StrCat(file->path(), ": ", name, " has shape ", ShapeString(view.shape),
                                                     ", not rank r=", adapter.config.r));
    }
    if (!(is_b ? seen_b : seen_a).insert(key).second) {
      return absl::InvalidArgumentError(absl::StrCat(file->path(), ": ", name, " appears twice"));
    }
    LoraPair& pair = adapter.weights[key];
    (is_b ? pair.b : pair.a) = CopyTensor(view);
  }
  for (const auto& [key, pair] : adapter.weights) {
    if (!seen_a.count(key) || !seen_b.count(key)) {
      return absl::InvalidArgumentError(absl::StrCat(file->path(), ": ", PeftTensorName(key, seen_a.count(key) > 0),
                                                     " is missing (every LoRA module needs both A and B)"));
    }
  }
  if (adapter.weights.empty()) return absl::InvalidArgumentError(absl::StrCat(file->path(), ": no LoRA tensors"));
  return adapter;
}

absl::Status MergeLoraAdapter(const std::string& base_dir, const std::string& adapter_dir,
                              const std::string& out_dir) {
  ASSIGN_OR_RETURN(LoraAdapter adapter, ReadLoraAdapter(adapter_dir));
  return MergeLoraAdapter(base_dir, adapter, adapter_dir, out_dir);
}

absl::Status MergeLoraAdapter(const std::string& base_dir, const LoraAdapter& adapter,
                              const std::string& adapter_dir, const std::string& out_dir) {
  ASSIGN_OR_RETURN(HfModel base, LoadHfModel(base_dir));
  const float scale = static_cast<float>(LoraScale(adapter.config));
  std::map<std::string, const LoraPair*> by_weight;
  for (const auto& [key, pair] : adapter.weights) {
    if (key.layer >= base.config.num_hidden_layers) {
      return absl::InvalidArgumentError(absl::StrCat(adapter_dir, ": adapter has layer ", key.layer, " but ", base_dir,
                                                     " has ", base.config.num_hidden_layers, " layers"));
    }
    by_weight[absl::StrCat("model.layers.", key.layer, ".", key.module, ".weight")] = &pair;
  }
  // LlamaTensorSpecs order first (transformers' state_dict order), then any extra tensors of the base.
  std::vector<std::string> names;
  std::set<std::string> listed;
  for (const HfTensorSpec& spec : LlamaTensorSpecs(base.config)) {
    names.push_back(spec.name);
    listed.insert(spec.name);
  }
  for (const std::string& name : base.weights->names()) {
    if (!listed.count(name)) names.push_back(name);
  }
  std::list<Tensor> merged;  // Owns the merged weights while the views below point into them.
  std::vector<std::pair<std::string, TensorView>> out;
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(TensorView w, base.weights->Get(name));
    auto it = by_weight.find(name);
    if (it == by_weight.end()) {
      out.emplace_back(name, w);
      continue;
    }
    const LoraPair& pair = *it->second;
    const int64_t rows = w.shape[0], cols = w.shape[1], r = adapter.config.r;
    if (pair.a.shape != std::vector<int64_t>{r, cols} || pair.b.shape != std::vector<int64_t>{rows, r}) {
      return absl::InvalidArgumentError(absl::StrCat("adapter for ", name, " has A ", ShapeString(pair.a.shape),
                                                     " and B ", ShapeString(pair.b.shape), " but the weight is ",
                                                     ShapeString(w.shape)));
    }
    ASSIGN_OR_RETURN(std::vector<float> wf, ToF32(w));
    ASSIGN_OR_RETURN(std::vector<float> a, ToF32(pair.a.view()));
    ASSIGN_OR_RETURN(std::vector<float> b, ToF32(pair.b.view()));
    std::vector<float> delta(static_cast<size_t>(cols));
    for (int64_t o = 0; o < rows; ++o) {
      std::fill(delta.begin(), delta.end(), 0.0f);
      for (int64_t k = 0; k < r; ++k) {
        const float bk = b[o * r + k];
        const float* a_row = a.data() + k * cols;
        for (int64_t i = 0; i < cols; ++i) delta[i] += bk * a_row[i];
      }
      // PEFT: delta_weight = (B @ A) * scaling, then weight += delta_weight.
      float* w_row = wf.data() + o * cols;
      for (int64_t i = 0; i < cols; ++i) w_row[i] += delta[i] * scale;
    }
    ASSIGN_OR_RETURN(Tensor t, FromF32As(w.dtype, w.shape, wf));
    merged.push_back(std::move(t));
    out.emplace_back(name, merged.back().view());
  }
  ASSIGN_OR_RETURN(std::string config_json, ReadFileToString(base_dir + "/config.json"));
  return SaveHfModel(out_dir, config_json, out, base_dir);
}

}  // namespace ftd
