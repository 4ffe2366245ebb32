// `ftd-worker generate`: text from a prompt with a model directory (and optional LoRA adapter), decoded token by
// token over a KV cache, greedy or sampled. Flag-free; worker_cli.cc parses the flags.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "model/quant/nf4.h"
#include "worker/sampling.h"

namespace ftd {

enum class GenerateOutput {
  kText,  // the continuation's text and a newline
  kJson,  // one line {"prompt_tokens", "generated_ids", "text", "stop_reason"}
};

struct GenerateOptions {
  std::string model_dir;    // Hugging Face model directory (config, weights, tokenizer).
  std::string adapter_dir;  // PEFT LoRA adapter applied on top of the model; empty for none.
  std::string prompt;       // Encoded as the tokenizer's post-processor does (BOS where it adds one).
  int64_t max_new_tokens = 64;
  SamplingOptions sampling;  // temperature 0 (the default): greedy.
  uint64_t seed = 0;         // std::mt19937_64's seed for sampling.
  GenerateOutput output = GenerateOutput::kText;
  // NF4-quantise the model's projections at load, as QLoRA trained the adapter on them; nullopt: as stored.
  std::optional<Nf4Statistics> quantize_base = std::nullopt;
};

// Generates until an EOS token (config.json's eos_token_id, else the tokenizer's eos_token), max_new_tokens, or
// the model's window (max_position_embeddings) is full; stop_reason says which: "eos", "max_new_tokens" or
// "max_length". generated_ids include the EOS token; the text is the decoded continuation without special
// tokens. INVALID_ARGUMENT for bad options (checked before the model loads) or a prompt longer than the window.
absl::Status RunGenerate(const GenerateOptions& options, std::ostream& out);

}  // namespace ftd
