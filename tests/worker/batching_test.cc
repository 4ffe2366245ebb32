// Epoch order (a seeded permutation, the same on every run), the step plan, right-padded collation, and sample
// packing (first-fit rows, packed collation with DataCollatorWithFlattening's labels).
#include "worker/train/batching.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/kernels.h"

namespace ftd {
namespace {

TEST(EpochOrderTest, IsAPermutationFixedBySeedAndEpoch) {
  const std::vector<int64_t> a = EpochOrder(100, 42, 0);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> identity(100);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(sorted, identity);
  EXPECT_EQ(EpochOrder(100, 42, 0), a);
  EXPECT_NE(EpochOrder(100, 42, 1), a);
  EXPECT_NE(EpochOrder(100, 43, 0), a);
  EXPECT_NE(a, identity);
  EXPECT_TRUE(EpochOrder(0, 1, 0).empty());
  EXPECT_EQ(EpochOrder(1, 1, 0), std::vector<int64_t>{0});
}

TEST(EpochOrderTest, PinnedValuesDoNotDependOnTheStandardLibrary) {
  // Fisher-Yates over mt19937_64 (whose output the C++ standard fixes) with our own bounded draw: these values
  // hold with any conforming library. A change here changes every run's data order.
  EXPECT_EQ(EpochOrder(8, 7, 3), (std::vector<int64_t>{0, 7, 1, 2, 4, 6, 5, 3}));
  EXPECT_EQ(EpochOrder(10, 42, 0), (std::vector<int64_t>{0, 6, 5, 1, 3, 9, 7, 8, 4, 2}));
  // Every position is reachable: over many seeds each example lands first about equally often.
  std::vector<int> first(8, 0);
  for (uint64_t seed = 0; seed < 8000; ++seed) ++first[EpochOrder(8, seed, 0)[0]];
  for (int count : first) EXPECT_NEAR(count, 1000, 5 * std::sqrt(1000.0 * 7 / 8));
}

TEST(PlanStepsTest, EpochsRoundUpAndMaxStepsWins) {
  absl::StatusOr<StepPlan> plan = PlanSteps(10, 3, 2, 1.0, 0);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->micro_batches_per_epoch, 4);  // 3 + 3 + 3 + 1
  EXPECT_EQ(plan->steps_per_epoch, 2);
  EXPECT_EQ(plan->total_steps, 2);
  EXPECT_EQ(PlanSteps(10, 3, 2, 2.5, 0)->total_steps, 5);
  EXPECT_EQ(PlanSteps(10, 3, 2, 0.1, 0)->total_steps, 1);
  EXPECT_EQ(PlanSteps(10, 3, 2, 1.0, 7)->total_steps, 7);
  EXPECT_FALSE(PlanSteps(0, 1, 1, 1.0, 0).ok());
  EXPECT_FALSE(PlanSteps(5, 0, 1, 1.0, 0).ok());
  EXPECT_FALSE(PlanSteps(5, 1, 0, 1.0, 0).ok());
  EXPECT_FALSE(PlanSteps(5, 1, 1, 0.0, 0).ok());
}

TEST(CollateTest, RightPadsWithIgnoredLabelsAndCountsTargets) {
  std::vector<Example> examples(3);
  examples[0] = {{5, 6, 7}, {5, 6, 7}};                       // 2 targets (positions 1, 2)
  examples[1] = {{8, 9}, {kIgnoreIndex, 9}};                  // 1 target
  examples[2] = {{1, 2, 3, 4}, {kIgnoreIndex, kIgnoreIndex, 3, 4}};  // 2 targets
  const std::vector<int64_t> idx = {1, 0};
  const MicroBatch mb = Collate(examples, idx, /*pad_id=*/0);
  EXPECT_EQ(mb.batch, 2);
  EXPECT_EQ(mb.seq, 3);
  EXPECT_EQ(mb.ids, (std::vector<int32_t>{8, 9, 0, 5, 6, 7}));
  EXPECT_EQ(mb.labels, (std::vector<int32_t>{kIgnoreIndex, 9, kIgnoreIndex, 5, 6, 7}));
  EXPECT_EQ(mb.targets, 3);
  EXPECT_EQ(mb.tokens, 5);
  EXPECT_EQ(CountTargets(examples[2]), 2);
  EXPECT_EQ(CountTargets(Example{{1}, {1}}), 0);  // A lone token predicts nothing.
}

// Examples of the given lengths, labels = ids (ids 1.. in order, so each token names its place).
std::vector<Example> OfLengths(const std::vector<int64_t>& lengths) {
  std::vector<Example> out;
  int32_t next = 1;
  for (int64_t n : lengths) {
    Example e;
    for (int64_t i = 0; i < n; ++i) e.input_ids.push_back(next++);
    e.labels = e.input_ids;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::vector<int64_t>> RowExamples(const std::vector<PackedRow>& rows) {
  std::vector<std::vector<int64_t>> out;
  for (const PackedRow& r : rows) out.push_back(r.examples);
  return out;
}

TEST(PackExamplesTest, FirstFitInTheGivenOrder) {
  const std::vector<Example> examples = OfLengths({5, 3, 4, 2, 6, 1});
  const std::vector<int64_t> identity = {0, 1, 2, 3, 4, 5};
  absl::StatusOr<std::vector<PackedRow>> rows = PackExamples(examples, identity, 8);
  ASSERT_TRUE(rows.ok()) << rows.status();
  // 5+3 fill row 0; 4 opens row 1, 2 joins it; 6 opens row 2; 1 goes back to row 1, the first with room.
  EXPECT_EQ(RowExamples(*rows), (std::vector<std::vector<int64_t>>{{0, 1}, {2, 3, 5}, {4}}));
  EXPECT_EQ((*rows)[0].tokens, 8);
  EXPECT_EQ((*rows)[1].tokens, 7);
  EXPECT_EQ((*rows)[2].tokens, 6);
  EXPECT_EQ((*rows)[1].targets, 3 + 1 + 0);  // len - 1 each
  // Another order, other rows; the same order, the same rows.
  const std::vector<int64_t> other = {4, 5, 0, 2, 1, 3};
  EXPECT_EQ(RowExamples(*PackExamples(examples, other, 8)),
            (std::vector<std::vector<int64_t>>{{4, 5}, {0, 1}, {2, 3}}));
  EXPECT_EQ(RowExamples(*PackExamples(examples, identity, 8)), RowExamples(*rows));
  // A shorter sequence_len (the 1 goes back to row 0), and a subset of the examples.
  EXPECT_EQ(RowExamples(*PackExamples(examples, identity, 6)),
            (std::vector<std::vector<int64_t>>{{0, 5}, {1, 3}, {2}, {4}}));
  const std::vector<int64_t> some = {3, 1};
  EXPECT_EQ(RowExamples(*PackExamples(examples, some, 8)), (std::vector<std::vector<int64_t>>{{3, 1}}));
  EXPECT_TRUE(PackExamples(examples, {}, 8)->empty());
}

TEST(PackExamplesTest, RefusesWhatCannotBePacked) {
  const std::vector<Example> examples = OfLengths({5, 0, 9});
  const std::vector<int64_t> first = {0}, empty = {1}, too_long = {2}, out_of_range = {3};
  EXPECT_EQ(PackExamples(examples, first, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PackExamples(examples, empty, 8).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PackExamples(examples, too_long, 8).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PackExamples(examples, out_of_range, 8).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(PackExamples(examples, first, 5).ok());  // Exactly sequence_len fits.
}

// The tree search is plain first-fit: the same rows as the quadratic scan, on many random lengths.
TEST(PackExamplesTest, EqualsAPlainFirstFitScan) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t seq_len = 16 + trial * 7;
    std::vector<int64_t> lengths(static_cast<size_t>(50 + 37 * trial));
    for (int64_t& n : lengths) n = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(seq_len));
    const std::vector<Example> examples = OfLengths(lengths);
    const std::vector<int64_t> order = EpochOrder(static_cast<int64_t>(lengths.size()), 3, trial);
    absl::StatusOr<std::vector<PackedRow>> rows = PackExamples(examples, order, seq_len);
    ASSERT_TRUE(rows.ok()) << rows.status();
    std::vector<std::vector<int64_t>> expected;
    std::vector<int64_t> used;
    for (int64_t i : order) {
      size_t r = 0;
      while (r < used.size() && used[r] + lengths[i] > seq_len) ++r;
      if (r == used.size()) {
        used.push_back(0);
        expected.emplace_back();
      }
      used[r] += lengths[i];
      expected[r].push_back(i);
    }
    ASSERT_EQ(RowExamples(*rows), expected) << "trial " << trial;
    for (size_t r = 0; r < rows->size(); ++r) EXPECT_EQ((*rows)[r].tokens, used[r]);
  }
}

TEST(CollatePackedTest, RestartsPositionsAndIgnoresEachExamplesFirstLabel) {
  std::vector<Example> examples(3);
  examples[0] = {{5, 6, 7}, {kIgnoreIndex, 6, 7}};             // 2 targets
  examples[1] = {{8, 9}, {8, 9}};                               // 1 target
  examples[2] = {{1, 2, 3, 4}, {kIgnoreIndex, kIgnoreIndex, 3, 4}};  // 2 targets
  const std::vector<PackedRow> rows = {{{0, 1}, 5, 3}, {{2}, 4, 2}};
  const std::vector<int64_t> idx = {0, 1};
  const MicroBatch mb = CollatePacked(examples, rows, idx, /*pad_id=*/0);
  const int32_t X = kIgnoreIndex;
  EXPECT_TRUE(mb.packed());
  EXPECT_EQ(mb.batch, 2);
  EXPECT_EQ(mb.seq, 5);
  EXPECT_EQ(mb.ids, (std::vector<int32_t>{5, 6, 7, 8, 9, /**/ 1, 2, 3, 4, 0}));
  EXPECT_EQ(mb.labels, (std::vector<int32_t>{X, 6, 7, X, 9, /**/ X, X, 3, 4, X}));
  EXPECT_EQ(mb.position_ids, (std::vector<int32_t>{0, 1, 2, 0, 1, /**/ 0, 1, 2, 3, 0}));
  EXPECT_EQ(mb.segment_ids, (std::vector<int32_t>{0, 0, 0, 1, 1, /**/ 0, 0, 0, 0, 1}));
  EXPECT_EQ(mb.targets, 5);  // As unpacked: the first labels were never targets.
  EXPECT_EQ(mb.tokens, 9);
  // targets keeps its meaning: labels != kIgnoreIndex at t >= 1 of each row.
  int64_t counted = 0;
  for (int64_t b = 0; b < mb.batch; ++b) {
    for (int64_t t = 1; t < mb.seq; ++t) counted += mb.labels[b * mb.seq + t] != X ? 1 : 0;
  }
  EXPECT_EQ(counted, mb.targets);
  EXPECT_FALSE(Collate(examples, idx, 0).packed());
}

// CollatePacked on gen_packing.py's three documents gives transformers' DataCollatorWithFlattening row (its
// input_ids, labels, position_ids; seq_idx as segment ids), copied from tests/fixtures/packing/tiny_llama/batch.json.
TEST(CollatePackedTest, MatchesDataCollatorWithFlattening) {
  const int32_t X = kIgnoreIndex;
  std::vector<Example> docs(3);
  docs[0] = {{226, 148, 141, 244, 75, 238, 115}, {X, X, X, 244, 75, 238, 115}};
  docs[1] = {{244, 177, 109, 106, 257}, {244, 177, 109, 106, 257}};
  docs[2] = {{59, 123, 262, 37, 30, 193, 188, 287, 44}, {X, X, 262, 37, 30, 193, 188, 287, 44}};
  const std::vector<int64_t> order = {0, 1, 2};
  absl::StatusOr<std::vector<PackedRow>> rows = PackExamples(docs, order, 21);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  const std::vector<int64_t> first = {0};
  const MicroBatch mb = CollatePacked(docs, *rows, first, 0);
  EXPECT_EQ(mb.ids, (std::vector<int32_t>{226, 148, 141, 244, 75, 238, 115, 244, 177, 109, 106, 257, 59, 123, 262, 37,
                                          30, 193, 188, 287, 44}));
  EXPECT_EQ(mb.labels, (std::vector<int32_t>{X, X, X, 244, 75, 238, 115, X, 177, 109, 106, 257, X, X, 262, 37, 30, 193,
                                             188, 287, 44}));
  EXPECT_EQ(mb.position_ids, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(mb.segment_ids, (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2}));
  EXPECT_EQ(mb.targets, 15);  // batch.json's n_targets
}

}  // namespace
}  // namespace ftd
