// A training run's checkpoint: the trained weights (fp32 masters), the AdamW state, where the data loader stands and
// the guardrail's eval history, in the checkpoint format of common/checkpoint (chunks with CRC32C, manifest last).
// Everything else a run needs to continue is a function of the config (epoch order, dropout masks, lr), so a run
// resumed from a checkpoint continues bit-exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/checkpoint/checkpoint_store.h"
#include "common/early_stop.h"
#include "model/llama/llama_model.h"
#include "worker/train/adamw_optimizer.h"
#include "worker/train/train_config.h"

namespace ftd {

// Where the run stands after `step` optimiser steps.
struct TrainProgress {
  int64_t step = 0;        // Optimiser steps taken.
  int64_t epoch = 0;       // Epoch of the next micro-batch.
  int64_t next_micro = 0;  // Index of the next micro-batch within that epoch.
  int64_t micro_done = 0;  // Global micro-batches taken so far (names the dropout streams).
};

// What a checkpoint says besides the tensors.
struct TrainCheckpointMeta {
  TrainProgress progress;
  int world_size = 1;
  std::vector<EvalPoint> evals;  // Guardrail evals so far, in order (the early-stop policy is rebuilt from them).
};

// "step-00000020": names sort in step order.
std::string TrainCheckpointName(int64_t step);

// The config fields that decide a run's trajectory, as a JSON object: a checkpoint is resumed only by the same run.
std::string TrainRunFingerprint(const TrainConfig& config, int64_t examples, int world_size);

// Writes checkpoint TrainCheckpointName(meta.progress.step): files "trained.safetensors" (every tensor in
// `trained`, fp32, the PEFT key names for LoRA) and "optimizer.safetensors" ("exp_avg.NAME", "exp_avg_sq.NAME"),
// with the progress, the evals and `fingerprint` in the manifest's metadata.
absl::Status SaveTrainCheckpoint(CheckpointStore& store, LlamaModel& model, const std::vector<std::string>& trained,
                                 const AdamWOptimizer& optimizer, const TrainCheckpointMeta& meta,
                                 const std::string& fingerprint);

// Reads checkpoint `name` into `model` and `optimizer`. Everything is read and verified before anything is
// changed: DATA_LOSS for a damaged checkpoint (a bad chunk, a malformed file), FAILED_PRECONDITION naming the
// differing settings when another run wrote it (fingerprint) or the tensors do not fit this model.
absl::StatusOr<TrainCheckpointMeta> LoadTrainCheckpoint(CheckpointStore& store, const std::string& name,
                                                        LlamaModel& model, const std::vector<std::string>& trained,
                                                        AdamWOptimizer& optimizer, const std::string& fingerprint);

}  // namespace ftd
