// LoRA adapters in Hugging Face PEFT's on-disk form (adapter_config.json + adapter_model.safetensors): config,
// PEFT's initialisation (A uniform, B zero), reading and writing with PEFT's key names, and merging an adapter
// into a base model directory (W += scale * B @ A in fp32, cast back with torch's rounding).
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/model_config.h"
#include "model/tensor.h"

namespace ftd {

// adapter_config.json fields ftd reads and writes (PEFT's LoraConfig names). Features that change the math
// (DoRA, rank/alpha patterns, modules_to_save, biases, fan_in_fan_out) are refused when reading.
struct LoraConfig {
  int64_t r = 8;
  double lora_alpha = 16.0;
  // Module names matched as PEFT does (equal to, or a "."-suffix of, the module path), e.g. "q_proj". Ignored
  // when all_linear.
  std::vector<std::string> target_modules = {"q_proj", "v_proj"};
  bool all_linear = false;  // target_modules: "all-linear": every projection but lm_head.
  double lora_dropout = 0.0;
  bool use_rslora = false;
  std::string bias = "none";
  std::string task_type = "CAUSAL_LM";
  std::string base_model_name_or_path;
  std::string peft_type = "LORA";
  bool fan_in_fan_out = false;
};

// alpha / r, or alpha / sqrt(r) with rsLoRA.
double LoraScale(const LoraConfig& config);
// Whether the config adapts `module` ("self_attn.q_proj", "mlp.down_proj", ...) of the decoder layers.
bool TargetsModule(const LoraConfig& config, absl::string_view module);

absl::StatusOr<LoraConfig> ParseLoraConfig(absl::string_view json_text);
// adapter_config.json text as PEFT writes it (sorted keys, 2-space indent, PEFT's default extra keys).
std::string LoraConfigToJson(const LoraConfig& config);

struct LoraKey {
  int64_t layer = 0;
  std::string module;  // "self_attn.q_proj".
  auto operator<=>(const LoraKey&) const = default;
};

struct LoraPair {
  Tensor a;  // [r, in].
  Tensor b;  // [out, r].
};

struct LoraAdapter {
  LoraConfig config;
  std::map<LoraKey, LoraPair> weights;
};

// "base_model.model.model.layers.{layer}.{module}.lora_A.weight" (lora_B for B), as PEFT saves it: without the
// adapter name.
std::string PeftTensorName(const LoraKey& key, bool lora_b);

// A fresh adapter for a model of `model_config`: A ~ U(-1/sqrt(in), 1/sqrt(in)) (what PEFT's
// kaiming_uniform_(a=sqrt(5)) gives), B = 0, F32, from a seeded std::mt19937_64 in (layer, module) order.
absl::StatusOr<LoraAdapter> InitLoraAdapter(const LoraConfig& config, const LlamaConfig& model_config,
                                            uint64_t seed);

// Writes dir/adapter_config.json and dir/adapter_model.safetensors (creating dir).
absl::Status WriteLoraAdapter(const std::string& dir, const LoraAdapter& adapter);
// Reads a PEFT adapter directory; keys with or without the ".default." adapter name are accepted.
absl::StatusOr<LoraAdapter> ReadLoraAdapter(const std::string& dir);

// Merges the adapter in `adapter_dir` into the model in `base_dir` and writes a full HF model to `out_dir`:
// config.json copied, weights in the base's dtypes, tokenizer files copied.
absl::Status MergeLoraAdapter(const std::string& base_dir, const std::string& adapter_dir,
                              const std::string& out_dir);
// The same for an adapter already read (from `adapter_dir`, named in messages).
absl::Status MergeLoraAdapter(const std::string& base_dir, const LoraAdapter& adapter,
                              const std::string& adapter_dir, const std::string& out_dir);

}  // namespace ftd
