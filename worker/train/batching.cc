// EpochOrder, PlanSteps, Collate.
#include "worker/train/batching.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "kernels/kernels.h"

namespace ftd {
namespace {

// Uniform in [0, bound) by rejection (Lemire's method would do too; this one is short and exact).
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t x = rng();
  while (x >= limit) x = rng();
  return x % bound;
}

}  // namespace

std::vector<int64_t> EpochOrder(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  // seed_seq spreads (seed, epoch) over the whole generator state.
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(epoch),
                    static_cast<uint32_t>(static_cast<uint64_t>(epoch) >> 32)};
  std::mt19937_64 rng(seq);
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(order[i], order[UniformBelow(rng, static_cast<uint64_t>(i) + 1)]);
  }
  return order;
}

absl::StatusOr<StepPlan> PlanSteps(int64_t examples, int64_t micro_batch_size, int64_t gradient_accumulation_steps,
                                   double num_epochs, int64_t max_steps) {
  if (examples < 1) return absl::InvalidArgumentError("no training examples");
  if (micro_batch_size < 1 || gradient_accumulation_steps < 1 || max_steps < 0 ||
      (max_steps == 0 && !(num_epochs > 0))) {
    return absl::InvalidArgumentError(absl::StrCat("bad step plan: micro_batch_size ", micro_batch_size,
                                                   ", gradient_accumulation_steps ", gradient_accumulation_steps,
                                                   ", num_epochs ", num_epochs, ", max_steps ", max_steps));
  }
  StepPlan plan;
  plan.micro_batches_per_epoch = (examples + micro_batch_size - 1) / micro_batch_size;
  plan.steps_per_epoch = (plan.micro_batches_per_epoch + gradient_accumulation_steps - 1) / gradient_accumulation_steps;
  plan.total_steps = max_steps > 0 ? max_steps
                                   : std::max<int64_t>(1, static_cast<int64_t>(std::ceil(
                                                              num_epochs * static_cast<double>(plan.steps_per_epoch))));
  return plan;
}

int64_t CountTargets(const Example& example) {
  int64_t n = 0;
  for (size_t t = 1; t < example.labels.size(); ++t) n += example.labels[t] != kIgnoreIndex ? 1 : 0;
  return n;
}

MicroBatch Collate(const std::vector<Example>& examples, absl::Span<const int64_t> indices, int32_t pad_id) {
  MicroBatch mb;
  mb.batch = static_cast<int64_t>(indices.size());
  for (int64_t i : indices) mb.seq = std::max<int64_t>(mb.seq, static_cast<int64_t>(examples[i].input_ids.size()));
  mb.ids.assign(static_cast<size_t>(mb.batch * mb.seq), pad_id);
  mb.labels.assign(static_cast<size_t>(mb.batch * mb.seq), kIgnoreIndex);
  for (int64_t b = 0; b < mb.batch; ++b) {
    const Example& e = examples[indices[b]];
    std::copy(e.input_ids.begin(), e.input_ids.end(), mb.ids.begin() + b * mb.seq);
    std::copy(e.labels.begin(), e.labels.end(), mb.labels.begin() + b * mb.seq);
    mb.targets += CountTargets(e);
    mb.tokens += static_cast<int64_t>(e.input_ids.size());
  }
  return mb;
}

}  // namespace ftd
