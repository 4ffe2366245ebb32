// One rank's training run: load the base model and the datasets, attach a fresh LoRA adapter (or train every
// weight), resume from the latest intact checkpoint if there is one, take the planned optimiser steps (seeded
// shuffling, micro-batches, gradient accumulation, gradients summed across ranks, clipping, AdamW, the lr
// schedule), evaluate the guardrail every eval_steps, checkpoint every save_steps, stop early when general
// perplexity spikes, and write the result (the best checkpoint's weights after an early stop) as a PEFT adapter or
// a full HF model directory.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/checkpoint/checkpoint_store.h"
#include "common/early_stop.h"
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
  double data_seconds = 0;       // Of `seconds`: assembling the step's micro-batches (the data loader's share).
  double allreduce_seconds = 0;  // Of `seconds`: summing the gradients across ranks (0 with one rank).
  double model_flops = 0;        // This rank's model FLOPs in the step (model/training_flops.h).
  // model_flops / seconds / the device's nominal peak FLOP/s (TrainRunOptions::peak_flops, else the backend's):
  // model FLOPs utilisation. Absent when no peak is known.
  std::optional<double> mfu;
  // The most bytes the backend has held at once so far (Backend::MemoryStats); absent where it does not count.
  std::optional<int64_t> device_memory_peak_bytes;
};

// One guardrail eval, as the run reports it.
struct TrainEvalLog {
  EvalPoint point;
  // The early-stop threshold in force, baseline x (1 + general_ppl_max_rise); absent without early stopping.
  std::optional<double> general_ppl_limit;
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
  // Rank 0's checkpoint store (other ranks' is not used): checkpoints every save_steps, at the last step and at each
  // new best eval, pruned to save_total_limit latest plus the best, orphans removed at the start. A run resumes
  // from the latest checkpoint that reads back intact (a damaged one is reported and the one before it used);
  // rank 0 sends the resumed state to the other ranks. Null: no checkpoints, no resume (then early_stopping is
  // refused: its result is a checkpoint).
  CheckpointStore* checkpoints = nullptr;
  std::function<void(const TrainEvalLog&)> on_eval;  // Called after every guardrail eval (may be empty).
  // The device's peak FLOP/s for MFU; 0: the backend's nominal figure (Backend::PeakFlops), none if it has none.
  double peak_flops = 0;
  // Rank 0: called after each checkpoint is committed (and old ones pruned), with its name and whether it is the
  // guardrail's new best (may be empty). `ftd-worker serve` uploads it to the coordinator from here.
  std::function<void(const std::string& name, int64_t step, bool best)> on_checkpoint;
};

struct TrainSummary {
  int64_t steps = 0;
  int64_t examples = 0;          // Examples trained on (after dropping those with nothing to learn).
  int64_t dropped_examples = 0;  // Examples whose labels score no token after truncation.
  double final_loss = 0;
  int64_t resumed_from_step = 0;  // 0: started afresh.
  bool early_stopped = false;     // EARLY_STOPPED: the output holds the best checkpoint's weights.
  std::vector<EvalPoint> evals;   // Guardrail evals, in order (those before a resume included).
  std::optional<EvalPoint> best;  // The eval whose weights were written after an early stop.
};

// Runs `config` to the end (or to an early stop). Errors name the cause: the model or a dataset line (path:line), a
// diverged loss (FAILED_PRECONDITION naming the step), a checkpoint of another run (FAILED_PRECONDITION), a lost
// peer (the collective's error, naming the step), a config this build cannot run. Nothing is written on failure
// but what was complete before it (committed checkpoints among it).
absl::StatusOr<TrainSummary> RunTraining(const TrainConfig& config, const TrainRunOptions& options);

}  // namespace ftd
