// `ftd-worker eval --model DIR [--adapter DIR] [--quantize-base Q] --suite S --data PATH ...`: one benchmark suite of
// the battery run on a model directory (eval/battery.h), its lm-eval metrics and standard errors printed as a table
// or JSON. The service runs the same RunSuite. Flag-free; worker_cli.cc parses the flags.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "eval/battery.h"
#include "model/quant/nf4.h"

namespace ftd {

struct EvalCommandOptions {
  std::string model_dir;    // Hugging Face model directory.
  std::string adapter_dir;  // PEFT LoRA adapter applied on top; empty for none.
  std::string suite;        // "mmlu", "hellaswag", "piqa", "perplexity", "task", "long_context".
  SuiteSpec spec;           // Its data and options (the kind is set from `suite`).
  int64_t max_length = 0;   // 0: the config's max_position_embeddings (lm-eval's HFLM default).
  bool json = false;        // One JSON object instead of the table.
  // NF4-quantise the model's projections at load, as QLoRA trained the adapter on them; nullopt: as stored.
  std::optional<Nf4Statistics> quantize_base = std::nullopt;
};

// Progress ("mmlu: 120/570") goes to `progress` about once a second; the result to `out`. Errors name the flag, the
// file and line, or the model.
absl::Status RunEvalCommand(const EvalCommandOptions& options, std::ostream& out, std::ostream& progress);

}  // namespace ftd
