// The early-stop guardrail as pure logic: the limit from the step-0 baseline, `patience` consecutive evals over it
// to stop, the best eval (lowest task loss within the limit) as the result, and malformed evals refused.
#include "common/early_stop.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace ftd {
namespace {

EarlyStopPolicy Policy(double rise, int patience) {
  absl::StatusOr<EarlyStopPolicy> p = EarlyStopPolicy::Create({rise, patience});
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

EarlyStopDecision Feed(EarlyStopPolicy& p, int64_t step, double loss, double ppl) {
  absl::StatusOr<EarlyStopDecision> d = p.Observe({step, loss, ppl});
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *d : EarlyStopDecision::kContinue;
}

TEST(EarlyStopTest, StopsAfterPatienceConsecutiveEvalsOverTheLimit) {
  EarlyStopPolicy p = Policy(0.1, 2);
  EXPECT_FALSE(p.limit().has_value());
  EXPECT_EQ(Feed(p, 0, 3.0, 20.0), EarlyStopDecision::kContinue);
  ASSERT_TRUE(p.limit().has_value());
  EXPECT_DOUBLE_EQ(*p.limit(), 22.0);
  EXPECT_EQ(Feed(p, 50, 2.5, 22.0), EarlyStopDecision::kContinue);  // exactly at the limit: within
  EXPECT_EQ(Feed(p, 100, 2.2, 22.5), EarlyStopDecision::kContinue);  // over once
  EXPECT_EQ(p.consecutive_over(), 1);
  EXPECT_EQ(Feed(p, 150, 2.1, 21.0), EarlyStopDecision::kContinue);  // back within: the run of overs resets
  EXPECT_EQ(p.consecutive_over(), 0);
  EXPECT_EQ(Feed(p, 200, 2.0, 23.0), EarlyStopDecision::kContinue);
  EXPECT_EQ(Feed(p, 250, 1.9, 30.0), EarlyStopDecision::kStop);      // second over in a row
  EXPECT_TRUE(p.stopped());
  // The result is the lowest task loss among evals within the limit: step 150 (2.1), not 200/250 (lower, but over).
  ASSERT_TRUE(p.best().has_value());
  EXPECT_EQ(p.best()->step, 150);
  EXPECT_EQ(Feed(p, 300, 1.8, 20.0), EarlyStopDecision::kStop);  // a stop is final
}

TEST(EarlyStopTest, BestIgnoresEvalsOverTheLimitAndPrefersTheEarliestTie) {
  EarlyStopPolicy p = Policy(0.5, 3);
  Feed(p, 0, 4.0, 10.0);
  Feed(p, 10, 3.0, 14.0);
  Feed(p, 20, 1.0, 16.0);  // lowest loss, but over the limit of 15
  Feed(p, 30, 3.0, 15.0);  // ties step 10: the earlier one stays
  ASSERT_TRUE(p.best().has_value());
  EXPECT_EQ(p.best()->step, 10);
  EXPECT_EQ(p.best()->task_val_loss, 3.0);
  EXPECT_FALSE(p.stopped());
}

TEST(EarlyStopTest, ADivergedModelCountsAsOverTheLimit) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EarlyStopPolicy p = Policy(0.1, 2);
  Feed(p, 0, 2.0, 10.0);
  EXPECT_EQ(Feed(p, 1, nan, nan), EarlyStopDecision::kContinue);
  EXPECT_EQ(Feed(p, 2, 1.0, inf), EarlyStopDecision::kStop);
  EXPECT_EQ(p.best()->step, 0);  // neither the NaN loss nor the over-limit eval
  EarlyStopPolicy q = Policy(0.1, 1);
  Feed(q, 0, 2.0, 10.0);
  Feed(q, 1, nan, 10.5);  // within the limit but a NaN loss: never the best
  EXPECT_EQ(q.best()->step, 0);
}

TEST(EarlyStopTest, ReplayingTheHistoryRebuildsTheState) {
  EarlyStopPolicy p = Policy(0.2, 3);
  const double ppl[] = {10, 11, 12.5, 13, 11, 12.1, 12.3};
  for (int i = 0; i < 7; ++i) Feed(p, 10 * i, 5.0 - 0.5 * i, ppl[i]);
  EarlyStopPolicy resumed = Policy(0.2, 3);
  for (const EvalPoint& e : p.history()) Feed(resumed, e.step, e.task_val_loss, e.general_ppl);
  EXPECT_EQ(resumed.consecutive_over(), p.consecutive_over());
  EXPECT_EQ(resumed.consecutive_over(), 2);
  EXPECT_EQ(resumed.stopped(), p.stopped());
  EXPECT_EQ(resumed.best()->step, p.best()->step);
  EXPECT_EQ(resumed.best()->step, 40);
}

TEST(EarlyStopTest, RefusesBadConfigsAndMalformedEvals) {
  EXPECT_EQ(EarlyStopPolicy::Create({0.0, 2}).status().message(),
            "early_stopping.general_ppl_max_rise: must be a finite number > 0, got 0");
  EXPECT_FALSE(EarlyStopPolicy::Create({std::numeric_limits<double>::infinity(), 2}).ok());
  EXPECT_EQ(EarlyStopPolicy::Create({0.1, 0}).status().message(), "early_stopping.patience: must be >= 1, got 0");

  EarlyStopPolicy p = Policy(0.1, 2);
  EXPECT_FALSE(p.Observe({0, 2.0, 0.0}).ok());  // a baseline must be a real perplexity
  EXPECT_FALSE(p.Observe({0, 2.0, std::nan("")}).ok());
  EXPECT_TRUE(p.history().empty());
  Feed(p, 5, 2.0, 10.0);
  const absl::Status late = p.Observe({5, 1.0, 10.0}).status();
  EXPECT_EQ(late.message(), "early stop: eval at step 5 does not come after the last one (step 5)");
  EXPECT_EQ(p.history().size(), 1u);  // the refused eval is not recorded
}

}  // namespace
}  // namespace ftd
