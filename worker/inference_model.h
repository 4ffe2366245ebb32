// A model directory loaded for inference, as the worker's commands (score, generate) need it: the Llama model on
// the CPU backend with an optional PEFT LoRA adapter attached, and the directory's tokenizer.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "model/llama/llama_model.h"
#include "model/tokenizer/tokenizer.h"

namespace ftd {

struct InferenceModel {
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

// Loads model_dir (config, weights, tokenizer.json) and, when adapter_dir is not empty, attaches that adapter
// (errors from attaching start with adapter_dir).
absl::StatusOr<InferenceModel> LoadInferenceModel(const std::string& model_dir, const std::string& adapter_dir);

}  // namespace ftd
