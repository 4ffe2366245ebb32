// A model directory loaded for inference, as the worker's commands (score, generate, eval) need it: the Llama model
// on the CPU backend with an optional PEFT LoRA adapter attached, the base optionally NF4-quantised at load (a QLoRA
// adapter scored on the base it was trained on), and the directory's tokenizer.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/llama/llama_model.h"
#include "model/quant/nf4.h"
#include "model/tokenizer/tokenizer.h"

namespace ftd {

struct InferenceModel {
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

// Loads model_dir (config, weights, tokenizer.json) as `load` says (LlamaLoadOptions: NF4-quantise the projections
// or not; a bitsandbytes 4-bit directory always loads with its stored codes) and, when adapter_dir is not empty,
// attaches that adapter (errors from attaching start with adapter_dir).
absl::StatusOr<InferenceModel> LoadInferenceModel(const std::string& model_dir, const std::string& adapter_dir,
                                                  const LlamaLoadOptions& load = {});

// The values of the commands' `--quantize-base` flag: "nf4" (QLoRA's NF4 with one fp32 absmax per 64 values,
// bnb_4bit_use_double_quant false) and "nf4-double-quant" (the absmax double-quantised, the qlora default). A
// QLoRA job's tuned model is its adapter on the base quantised so, which is how it was trained.
inline constexpr absl::string_view kQuantizeBaseNf4 = "nf4";
inline constexpr absl::string_view kQuantizeBaseNf4DoubleQuant = "nf4-double-quant";

// The statistics a `--quantize-base` value names; "" (the flag absent) is nullopt: the base as stored.
// INVALID_ARGUMENT naming the flag and the accepted values otherwise.
absl::StatusOr<std::optional<Nf4Statistics>> ParseQuantizeBase(absl::string_view value);

}  // namespace ftd
