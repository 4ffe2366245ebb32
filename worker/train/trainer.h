// The single-process training run: load the base model and the datasets, attach a fresh LoRA adapter (or train
// every weight), take the planned optimiser steps (seeded shuffling, micro-batches, gradient accumulation,
// clipping, AdamW, the lr schedule), and write the result as a PEFT adapter or a full HF model directory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kernels/kernels.h"
#include "worker/collective/collective.h"
#include "worker/train/train_config.h"

namespace ftd {

// One optimiser step, as the run reports it.
struct TrainStepLog {
  int64_t step = 0;         // 1-based.
  int64_t total_steps = 0;
  int64_t epoch = 0;        // 0-based epoch the step's examples come from.
  double loss = 0;          // Mean token loss over the step's micro-batches (HF's num_items_in_batch loss).
  double lr = 0;            // The lr this step used.
  double grad_norm = 0;     // Before clipping.
  int64_t tokens = 0;       // Input tokens of the step (padding excluded).
  int64_t targets = 0;      // Tokens scored by the loss.
  double seconds = 0;       // Wall time of the step.
};

struct TrainRunOptions {
  std::string output_dir;  // Where the adapter (LoRA) or the model (full) is written; created.
  Backend* backend = nullptr;
  std::function<void(const TrainStepLog&)> on_step;   // Called after every optimiser step (may be empty).
  std::function<void(const std::string&)> on_note;    // Progress and warnings in words (may be empty).
  // Data parallelism: this process is collective->rank() of world_size() ranks; null for a single process. A step
  // takes gradient_accumulation_steps micro-batches on every rank (the global batch grows with the world); rank r
  // runs the step's global micro-batches r, r + world, ...; gradients are summed across ranks before the optimiser
  // step, so every rank keeps identical weights, equal to one process running the same global batch. Only rank 0
  // writes the result.
  Collective* collective = nullptr;
  absl::Duration collective_timeout = absl::Minutes(5);
};

struct TrainSummary {
  int64_t steps = 0;
  int64_t examples = 0;          // Examples trained on (after dropping those with nothing to learn).
  int64_t dropped_examples = 0;  // Examples whose labels score no token after truncation.
  double final_loss = 0;
};

// Runs `config` to the end. Errors name the cause: the model or a dataset line (path:line), a diverged loss
// (FAILED_PRECONDITION naming the step), a config this build cannot run. Nothing is written on failure but
// what was complete before it.
absl::StatusOr<TrainSummary> RunTraining(const TrainConfig& config, const TrainRunOptions& options);

}  // namespace ftd
