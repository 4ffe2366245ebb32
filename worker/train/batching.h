// How a training run walks its examples: the seeded order of each epoch, the optimiser steps the run takes,
// and the micro-batches (right-padded to their longest example, or packed rows of several examples) that make up
// a step.
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
  int64_t seq = 0;               // The longest example's (packed: row's) length.
  std::vector<int32_t> ids;      // (batch, seq), padding pad_id after each example (packed: after each row).
  std::vector<int32_t> labels;   // (batch, seq), kIgnoreIndex on padding (packed: and at each example's start).
  int64_t targets = 0;           // Tokens the causal loss scores: labels[b, t] != kIgnoreIndex for t >= 1.
  int64_t tokens = 0;            // Real (unpadded) tokens.
  // Packed micro-batches only (CollatePacked); empty otherwise. Per token, its position within its example and the
  // example's slot in its row (the row's padding is one more segment); what LlamaPacking takes.
  std::vector<int32_t> position_ids;  // (batch, seq)
  std::vector<int32_t> segment_ids;   // (batch, seq)

  bool packed() const { return !segment_ids.empty(); }
};

// The examples at `indices`, right-padded: with causal attention a real token never sees the padding after it.
MicroBatch Collate(const std::vector<Example>& examples, absl::Span<const int64_t> indices, int32_t pad_id);

// Tokens the causal loss scores in one example (its labels after the first position that are not ignored).
int64_t CountTargets(const Example& example);

// ---- sample packing (sample_packing: true) ----
// One row of packed examples: sequence_len tokens at most, each example a document of its own (the model restarts
// positions and keeps attention within it).
struct PackedRow {
  std::vector<int64_t> examples;  // Indices into the example list, in the order they sit in the row.
  int64_t tokens = 0;             // Sum of their lengths, <= sequence_len.
  int64_t targets = 0;            // Sum of their CountTargets: what the row's loss scores (as unpacked).
};

// Packs the examples at `order` into rows of at most sequence_len tokens, first-fit: each example, taken in
// `order`, goes into the first row (lowest index) with room for it, else opens a new row; within a row examples keep
// their order. Deterministic (a function of the lengths and `order` only); O(n log n). A run packs once, with
// `order` the identity, and shuffles rows with EpochOrder(rows.size(), ...) each epoch (as TRL packs the dataset
// before the sampler shuffles), so PlanSteps(rows.size(), ...) holds for every epoch. INVALID_ARGUMENT for
// sequence_len < 1, an index out of range, or an example with no token or more than sequence_len (the dataset
// truncates them).
absl::StatusOr<std::vector<PackedRow>> PackExamples(const std::vector<Example>& examples,
                                                    absl::Span<const int64_t> order, int64_t sequence_len);

// The packed rows at `indices` of `rows` as one micro-batch, right-padded to the longest (pad_id, labels
// kIgnoreIndex, the padding one more segment with positions from 0). Each example keeps its labels except the
// first, which becomes kIgnoreIndex, as transformers' DataCollatorWithFlattening does (so the last token of one
// example never predicts the first of the next); its positions run 0..len-1; its segment id is its slot in the
// row. targets and tokens are those of the examples unpacked.
MicroBatch CollatePacked(const std::vector<Example>& examples, const std::vector<PackedRow>& rows,
                         absl::Span<const int64_t> indices, int32_t pad_id);

}  // namespace ftd
