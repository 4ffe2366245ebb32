// How a training run walks its examples: the seeded order of each epoch, the optimiser steps the run takes,
// and the micro-batches (right-padded to their longest example) that make up a step.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/train/dataset.h"

namespace ftd {

// A permutation of 0..n-1 for `epoch`: Fisher-Yates driven by std::mt19937_64 (seeded from seed and epoch) with
// its own unbiased bounded draw, so one (seed, epoch) names the same order with every standard library.
std::vector<int64_t> EpochOrder(int64_t n, uint64_t seed, int64_t epoch);

// The step plan of a run over `examples` examples. A step takes up to gradient_accumulation_steps micro-batches
// of up to micro_batch_size examples; an epoch uses every example once, so its last step may be short.
struct StepPlan {
  int64_t micro_batches_per_epoch = 0;  // ceil(examples / micro_batch_size)
  int64_t steps_per_epoch = 0;          // ceil(micro_batches_per_epoch / gradient_accumulation_steps)
  int64_t total_steps = 0;              // max_steps when > 0, else ceil(num_epochs * steps_per_epoch)
};
// INVALID_ARGUMENT for no examples or non-positive sizes.
absl::StatusOr<StepPlan> PlanSteps(int64_t examples, int64_t micro_batch_size, int64_t gradient_accumulation_steps,
                                   double num_epochs, int64_t max_steps);

struct MicroBatch {
  int64_t batch = 0;
  int64_t seq = 0;               // The longest example's length.
  std::vector<int32_t> ids;      // (batch, seq), padding pad_id after each example.
  std::vector<int32_t> labels;   // (batch, seq), kIgnoreIndex on padding.
  int64_t targets = 0;           // Tokens the causal loss scores: labels[b, t] != kIgnoreIndex for t >= 1.
  int64_t tokens = 0;            // Real (unpadded) tokens.
};

// The examples at `indices`, right-padded: with causal attention a real token never sees the padding after it.
MicroBatch Collate(const std::vector<Example>& examples, absl::Span<const int64_t> indices, int32_t pad_id);

// Tokens the causal loss scores in one example (its labels after the first position that are not ignored).
int64_t CountTargets(const Example& example);

}  // namespace ftd
