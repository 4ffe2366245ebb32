// `ftd-worker train CONFIG --output DIR`: one process runs a job-spec YAML to the end (worker/train/trainer.h),
// logging every step, and writes the PEFT adapter (lora) or the full model (full) to DIR. Flag-free;
// worker_cli.cc parses the flags.
#pragma once

#include <iosfwd>
#include <string>

#include "absl/status/status.h"

namespace ftd {

struct TrainCommandOptions {
  std::string config_path;  // Job-spec YAML.
  std::string output_dir;   // Adapter or model directory to write.
  std::string log_path;     // JSONL of the steps; empty: DIR/train_log.jsonl.
  bool json = false;        // Steps as JSON lines on `out` instead of text.
};

// Progress (notes, one line per step) goes to `out`; the step log to log_path as it happens. Errors name the
// config key, the dataset line or the step.
absl::Status RunTrainCommand(const TrainCommandOptions& options, std::ostream& out);

}  // namespace ftd
