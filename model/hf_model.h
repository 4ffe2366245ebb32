// A Hugging Face model directory (config.json + safetensors weights + tokenizer files): the tensor names and
// shapes a Llama-family config implies, loading with shape validation, and saving a new directory.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

// config.json's "quantization_config", when it is bitsandbytes 4-bit NF4 (what transformers' save_pretrained
// writes under BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4"), and WriteNf4Model in
// model/quant/nf4_model.h). The per-tensor state (blocksizes, shapes) lives beside each weight in the
// safetensors file; model/quant/nf4_model.h reads it.
struct HfQuantization {
  bool double_quant = false;  // bnb_4bit_use_double_quant: the absmax themselves 8-bit quantised.
};

// Parses the "quantization_config" of config.json text: nullopt when absent or null. UNIMPLEMENTED naming
// `quantization_config.<key>` for what ftd cannot read (another quant_method, 8-bit, fp4, a quant storage other
// than uint8, modules skipped other than lm_head), INVALID_ARGUMENT for mistyped values or text that is not JSON.
absl::StatusOr<std::optional<HfQuantization>> ParseHfQuantization(absl::string_view config_json);

// Whether a tensor of LlamaTensorSpecs is NF4-quantised in a bitsandbytes 4-bit directory: the decoder layers'
// projection weights (kind kLinear, name not "lm_head.weight"; transformers keeps lm_head in floating point).
bool IsNf4QuantizedTensor(const HfTensorSpec& spec);

// A loaded model directory. Weights stay mapped while the object lives.
struct HfModel {
  std::string dir;
  LlamaConfig config;
  std::unique_ptr<SafetensorsModel> weights;
  // Set for a bitsandbytes 4-bit directory: then the IsNf4QuantizedTensor weights are U8 packed codes
  // (model/quant/nf4_model.h ReadNf4Weight gives them with their state), everything else stays floating.
  std::optional<HfQuantization> quantization;
};

// Loads config.json and the weights and checks that every tensor LlamaTensorSpecs names is present with that
// shape and a floating dtype (INVALID_ARGUMENT naming the first bad tensor). Extra tensors (e.g. rotary
// inv_freq) are allowed. In a quantised directory (see HfQuantization) the IsNf4QuantizedTensor weights must
// instead be U8 of shape (ceil(out * in / 2), 1), bitsandbytes' packed layout; their NF4 state is checked
// when read (ReadNf4Weight). Errors of quantization_config as ParseHfQuantization, prefixed with the file.
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
