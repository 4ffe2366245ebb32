// Random initialisation of a Llama-family model from a config.json, as transformers' _init_weights does:
// normal(0, initializer_range) for linear and embedding weights, ones for RMSNorm weights, zero biases. Seeded
// and platform-independent (own Box-Muller over std::mt19937_64), so a seed names one model everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/model_config.h"
#include "model/tensor.h"

namespace ftd {

// The tensors of a freshly initialised model, in LlamaTensorSpecs order, stored as config.dtype.
absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> InitLlamaWeights(const LlamaConfig& config,
                                                                              uint64_t seed);

struct InitModelOptions {
  std::string config_path;    // A config.json (or a directory holding one).
  std::string tokenizer_dir;  // Tokenizer files copied from here when non-empty.
  uint64_t seed = 0;
  std::string out_dir;
};

// Writes a random HF model directory: config.json (re-emitted by LlamaConfigToJson), model.safetensors and the
// tokenizer files.
absl::Status InitRandomModel(const InitModelOptions& options);

}  // namespace ftd
