// config.json of a Hugging Face Llama-family model (Llama, Mistral, Qwen2, SmolLM) parsed into one struct,
// written back the way transformers' save_pretrained does, and the parameter count by module it implies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/dtype.h"

namespace ftd {

// RoPE frequency scaling as modeling_rope_utils.py names it. Others (dynamic, yarn, longrope) are refused.
enum class RopeScalingType { kNone, kLinear, kLlama3 };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;   // llama3 only.
  double high_freq_factor = 4.0;  // llama3 only.
  int64_t original_max_position_embeddings = 0;  // llama3 only.
};

// "default", "linear", "llama3".
absl::string_view RopeScalingTypeName(RopeScalingType type);

// The architecture hyper-parameters every other part of ftd reads. Defaults are transformers' LlamaConfig
// defaults for the optional keys; the dimension keys are required.
struct LlamaConfig {
  std::string architecture = "LlamaForCausalLM";  // architectures[0].
  std::string model_type = "llama";               // "llama", "mistral" or "qwen2".
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // Defaults to num_attention_heads.
  int64_t head_dim = 0;             // Defaults to hidden_size / num_attention_heads.
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;    // Qwen2: always; Llama: `attention_bias`.
  bool o_proj_bias = false;  // Llama `attention_bias` only (Qwen2's o_proj has none).
  bool mlp_bias = false;
  DType dtype = DType::kF32;  // `dtype` (transformers >= 4.56) or `torch_dtype`; float32 when absent.
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // `eos_token_id`: an int or a list.
  std::optional<int64_t> pad_token_id;
  double initializer_range = 0.02;
  std::string hidden_act = "silu";

  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
};

// Parses config.json text. INVALID_ARGUMENT naming the key for missing/mistyped values, and naming what is
// unsupported: architectures other than LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM, rope types
// other than default/linear/llama3, an active sliding window, hidden_act other than silu.
absl::StatusOr<LlamaConfig> ParseLlamaConfig(absl::string_view json_text);
// Reads and parses a config.json file (a directory means DIR/config.json). Errors start with the path.
absl::StatusOr<LlamaConfig> LoadLlamaConfig(const std::string& path);

// config.json text as transformers writes it (sorted keys, 2-space indent, old `rope_scaling` layout with
// `rope_theta` at top level and `torch_dtype`, which all transformers versions read).
std::string LlamaConfigToJson(const LlamaConfig& config);

// "float32", "bfloat16", "float16" (torch names as config.json stores them).
absl::StatusOr<DType> ParseTorchDType(absl::string_view name);
absl::string_view TorchDTypeName(DType dtype);

// Parameters by module, from the config alone (what the weights must hold).
struct ParameterCounts {
  int64_t embed = 0;      // model.embed_tokens.
  int64_t attention = 0;  // q/k/v/o projections and their biases, all layers.
  int64_t mlp = 0;        // gate/up/down projections and their biases, all layers.
  int64_t norm = 0;       // input/post-attention RMSNorms of all layers and the final norm.
  int64_t lm_head = 0;    // 0 when tied to the embedding.
  int64_t total() const { return embed + attention + mlp + norm + lm_head; }
};
ParameterCounts CountParameters(const LlamaConfig& config);

}  // namespace ftd
