// `ftd-worker score`: lm-eval's loglikelihood requests scored with a model directory, one JSON result per
// request line. Flag-free; worker_cli.cc parses the flags.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "model/quant/nf4.h"

namespace ftd {

struct ScoreOptions {
  std::string model_dir;      // Hugging Face model directory (config, weights, tokenizer).
  std::string adapter_dir;    // PEFT LoRA adapter applied on top of the model; empty for none.
  std::string requests_path;  // JSONL: {"context": s, "continuation": s} or {"text": s} (rolling) per line.
  int64_t max_length = 0;     // Model window in tokens; 0 means the config's max_position_embeddings.
  // NF4-quantise the model's projections at load, as QLoRA trained the adapter on them; nullopt: as stored.
  std::optional<Nf4Statistics> quantize_base = std::nullopt;
};

// Writes one line per request: {"logprob", "is_greedy", "tokens"} (rolling: is_greedy over every window), or
// {"error": "..."} for a request that cannot be scored (bad JSON, unknown keys, nothing to score): that line
// fails, the others are still scored. Returns an error naming the first failed line when any failed, and
// for what stops everything (model, tokenizer, file).
absl::Status RunScore(const ScoreOptions& options, std::ostream& out);

}  // namespace ftd
