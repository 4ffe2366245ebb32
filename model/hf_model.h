// A Hugging Face model directory (config.json + safetensors weights + tokenizer files): the tensor names and
// shapes a Llama-family config implies, loading with shape validation, and saving a new directory.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/model_config.h"
#include "model/safetensors.h"
#include "model/file_io.h"
#include "model/tensor.h"

namespace ftd {

// How a tensor is initialised and which module it counts towards.
enum class HfTensorKind { kEmbedding, kLinear, kBias, kNorm };

struct HfTensorSpec {
  std::string name;  // "model.layers.0.self_attn.q_proj.weight".
  std::vector<int64_t> shape;
  HfTensorKind kind = HfTensorKind::kLinear;
};

// Every tensor a transformers LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM of this config holds,
// in transformers' state_dict order (embed, per layer: attention, mlp, norms; final norm, lm_head unless tied).
std::vector<HfTensorSpec> LlamaTensorSpecs(const LlamaConfig& config);

// The projection modules LoRA can target, in layer order: "self_attn.q_proj", ..., "mlp.down_proj".
const std::vector<std::string>& LlamaLinearModules();

// A loaded model directory. Weights stay mapped while the object lives.
struct HfModel {
  std::string dir;
  LlamaConfig config;
  std::unique_ptr<SafetensorsModel> weights;
};

// Loads config.json and the weights and checks that every tensor LlamaTensorSpecs names is present with that
// shape (INVALID_ARGUMENT naming the first bad tensor). Extra tensors (e.g. rotary inv_freq) are allowed.
absl::StatusOr<HfModel> LoadHfModel(const std::string& dir);

// The tokenizer files of a model directory that travel with its weights, those present in `dir`
// (tokenizer.json, tokenizer_config.json, special_tokens_map.json, tokenizer.model, generation_config.json,
// chat_template.jinja), as file names.
std::vector<std::string> TokenizerFileNames(const std::string& dir);

// Copies TokenizerFileNames(from_dir) into to_dir.
absl::Status CopyTokenizerFiles(const std::string& from_dir, const std::string& to_dir);

// Creates `dir` (and parents), writes config.json (the given text), the weights with WriteSafetensorsModel,
// and copies the tokenizer files of `tokenizer_dir` when it is non-empty.
absl::Status SaveHfModel(const std::string& dir, const std::string& config_json,
                         const std::vector<std::pair<std::string, TensorView>>& tensors,
                         const std::string& tokenizer_dir = "");

}  // namespace ftd
