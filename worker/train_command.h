// `ftd-worker train CONFIG --output DIR [--rank R --world-size N --rendezvous file:DIR] [--checkpoints SPEC]`: one
// rank runs a job-spec YAML to the end (worker/train/trainer.h), like torchrun's processes: logging every step,
// checkpointing, resuming from the latest intact checkpoint, and (rank 0) writing the PEFT adapter (lora) or the
// full model (full) and result.json to DIR. Flag-free; worker_cli.cc parses the flags.
#pragma once

#include <iosfwd>
#include <string>

#include "absl/status/status.h"

namespace ftd {

struct TrainCommandOptions {
  std::string config_path;  // Job-spec YAML.
  std::string output_dir;   // Adapter or model directory to write.
  std::string log_path;     // JSONL of the steps; empty: DIR/train_log.jsonl (rank r > 0: train_log.rank<r>.jsonl).
  bool json = false;        // Steps as JSON lines on `out` instead of text.
  int rank = 0;
  int world_size = 0;              // 0: the job spec's world_size (which must then be 1 without a rendezvous).
  std::string rendezvous;          // "file:DIR" where the ranks meet; required when world_size > 1.
  std::string checkpoints;         // Store spec (checkpoint_store_spec.h); empty: the build's default under DIR.
  double collective_timeout_s = 300;  // Bound on every collective call: a lost peer fails the rank this soon.
  double peak_flops = 0;  // The device's peak FLOP/s for MFU; 0: the backend's nominal figure.
  // Where a failure is also written as JSON {"code": <absl::StatusCode number>, "code_name", "message"} (atomically),
  // for a supervising process (`ftd-worker serve`) to classify. Empty: not written.
  std::string error_path;
};

// Progress (notes, one line per step) goes to `out`; the step log to log_path as it happens. With `json`, `out` gets
// JSON lines: steps {"step", "total_steps", "loss", ..., "seconds", "data_seconds", "allreduce_seconds",
// "model_flops", "mfu"?, "device_memory_peak_bytes"?}, evals {"eval": true, ..., "general_ppl_limit"?} and rank 0's committed
// checkpoints {"checkpoint": NAME, "step", "best"}; other lines are notes. Errors name the config key, the dataset
// line, the checkpoint or the step.
absl::Status RunTrainCommand(const TrainCommandOptions& options, std::ostream& out);

}  // namespace ftd
