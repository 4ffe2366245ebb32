// EpochOrder, PlanSteps, Collate, and sample packing (PackExamples, CollatePacked).
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

absl::StatusOr<std::vector<PackedRow>> PackExamples(const std::vector<Example>& examples,
                                                    absl::Span<const int64_t> order, int64_t sequence_len) {
  if (sequence_len < 1) return absl::InvalidArgumentError(absl::StrCat("packing: sequence_len ", sequence_len));
  // First-fit in O(log n) per example: a max-tree over the rows' free room, rows not yet opened counting as empty
  // (full room), so the leftmost leaf with room >= len is the first open row that fits or else the next new one.
  const auto n = static_cast<int64_t>(order.size());
  int64_t leaves = 1;
  while (leaves < n) leaves *= 2;
  std::vector<int64_t> room(static_cast<size_t>(2 * leaves), sequence_len);  // room[1] is the root
  std::vector<PackedRow> rows;
  for (int64_t i : order) {
    if (i < 0 || i >= static_cast<int64_t>(examples.size())) {
      return absl::InvalidArgumentError(absl::StrCat("packing: example index ", i, " of ", examples.size()));
    }
    const auto len = static_cast<int64_t>(examples[i].input_ids.size());
    if (len < 1 || len > sequence_len) {
      return absl::InvalidArgumentError(
          absl::StrCat("packing: example ", i, " has ", len, " tokens (1..sequence_len=", sequence_len, " fit)"));
    }
    int64_t node = 1;
    while (node < leaves) node = room[2 * node] >= len ? 2 * node : 2 * node + 1;
    const int64_t row = node - leaves;
    if (row == static_cast<int64_t>(rows.size())) rows.emplace_back();
    rows[row].examples.push_back(i);
    rows[row].tokens += len;
    rows[row].targets += CountTargets(examples[i]);
    for (room[node] -= len, node /= 2; node >= 1; node /= 2) room[node] = std::max(room[2 * node], room[2 * node + 1]);
  }
  return rows;
}

MicroBatch CollatePacked(const std::vector<Example>& examples, const std::vector<PackedRow>& rows,
                         absl::Span<const int64_t> indices, int32_t pad_id) {
  MicroBatch mb;
  mb.batch = static_cast<int64_t>(indices.size());
  for (int64_t r : indices) mb.seq = std::max(mb.seq, rows[r].tokens);
  const auto n = static_cast<size_t>(mb.batch * mb.seq);
  mb.ids.assign(n, pad_id);
  mb.labels.assign(n, kIgnoreIndex);
  mb.position_ids.assign(n, 0);
  mb.segment_ids.assign(n, 0);
  for (int64_t b = 0; b < mb.batch; ++b) {
    const PackedRow& row = rows[indices[b]];
    int64_t t = b * mb.seq;  // Next free slot of the row.
    int32_t segment = 0;
    for (int64_t i : row.examples) {
      const Example& e = examples[i];
      const auto len = static_cast<int64_t>(e.input_ids.size());
      std::copy(e.input_ids.begin(), e.input_ids.end(), mb.ids.begin() + t);
      std::copy(e.labels.begin() + 1, e.labels.end(), mb.labels.begin() + t + 1);  // labels[t] stays ignored
      for (int64_t p = 0; p < len; ++p) {
        mb.position_ids[t + p] = static_cast<int32_t>(p);
        mb.segment_ids[t + p] = segment;
      }
      t += len;
      ++segment;
      mb.targets += CountTargets(e);
      mb.tokens += len;
    }
    for (int64_t p = 0; t < (b + 1) * mb.seq; ++t, ++p) {  // Padding: a segment of its own.
      mb.position_ids[t] = static_cast<int32_t>(p);
      mb.segment_ids[t] = segment;
    }
  }
  return mb;
}

}  // namespace ftd
