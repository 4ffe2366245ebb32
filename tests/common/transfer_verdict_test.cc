// The verdict rule, branch by branch with exact numbers: the stderr threshold (both sides of it and exactly on it,
// both metric directions), the no-stderr tolerance, malformed rows, and every overall verdict with its description.
#include "common/transfer_verdict.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"
#include "tests/common/transfer_report_fixture.h"

namespace ftd {
namespace {

using testing::Row;
constexpr auto kUp = MetricDirection::kHigherIsBetter;
constexpr auto kDown = MetricDirection::kLowerIsBetter;

BenchmarkComparison Acc(double base, double base_se, double tuned, double tuned_se) {
  return Row("b", "mmlu", "acc", kUp, base, base_se, tuned, tuned_se, 100);
}

TEST(JudgeTest, ImprovedBeyondTheStderrThreshold) {
  // se = sqrt(0.03^2 + 0.04^2) = 0.05; threshold 1.96 x 0.05 = 0.098; gain 0.1.
  const Judgement j = Judge(Acc(0.5, 0.03, 0.6, 0.04));
  EXPECT_EQ(j.verdict, BenchmarkVerdict::kImproved);
  EXPECT_EQ(j.basis, ThresholdBasis::kStderr);
  EXPECT_NEAR(j.se, 0.05, 1e-15);
  EXPECT_NEAR(j.threshold, 0.098, 1e-15);
  EXPECT_NEAR(j.delta, 0.1, 1e-15);
  EXPECT_NEAR(j.gain, 0.1, 1e-15);
}

TEST(JudgeTest, RegressedBeyondTheStderrThreshold) {
  const Judgement j = Judge(Acc(0.6, 0.03, 0.5, 0.04));
  EXPECT_EQ(j.verdict, BenchmarkVerdict::kRegressed);
  EXPECT_NEAR(j.gain, -0.1, 1e-15);
}

TEST(JudgeTest, NeutralJustInsideTheThresholdOnBothSides) {
  EXPECT_EQ(Judge(Acc(0.5, 0.03, 0.597, 0.04)).verdict, BenchmarkVerdict::kNeutral);  // +0.097 < 0.098
  EXPECT_EQ(Judge(Acc(0.5, 0.03, 0.403, 0.04)).verdict, BenchmarkVerdict::kNeutral);  // -0.097 > -0.098
}

TEST(JudgeTest, ExactlyOnTheThresholdIsNeutral) {
  // se = sqrt(9 + 16) = 5 exactly; a gain equal to 1.96 x 5 is not "more than" it.
  const double t = kVerdictZ * 5.0;
  const Judgement up = Judge(Acc(0, 3, t, 4));
  EXPECT_EQ(up.se, 5.0);
  EXPECT_EQ(up.threshold, t);
  EXPECT_EQ(up.verdict, BenchmarkVerdict::kNeutral);
  EXPECT_EQ(Judge(Acc(0, 3, -t, 4)).verdict, BenchmarkVerdict::kNeutral);
  EXPECT_EQ(Judge(Acc(0, 3, std::nextafter(t, 100.0), 4)).verdict, BenchmarkVerdict::kImproved);
  EXPECT_EQ(Judge(Acc(0, 3, std::nextafter(-t, -100.0), 4)).verdict, BenchmarkVerdict::kRegressed);
}

TEST(JudgeTest, LowerIsBetterFlipsTheSignOfTheGainNotOfTheDelta) {
  // Perplexity 12 -> 11.5: delta -0.5 (raw, as on the wire), gain +0.5; se = sqrt(0.12^2 + 0.16^2) = 0.2, threshold
  // 0.392.
  const Judgement better = Judge(Row("p", "perplexity", "word_perplexity", kDown, 12.0, 0.12, 11.5, 0.16, 50));
  EXPECT_NEAR(better.se, 0.2, 1e-15);
  EXPECT_EQ(better.delta, -0.5);
  EXPECT_EQ(better.gain, 0.5);
  EXPECT_EQ(better.verdict, BenchmarkVerdict::kImproved);
  const Judgement worse = Judge(Row("p", "perplexity", "word_perplexity", kDown, 12.0, 0.12, 12.5, 0.16, 50));
  EXPECT_EQ(worse.delta, 0.5);
  EXPECT_EQ(worse.gain, -0.5);
  EXPECT_EQ(worse.verdict, BenchmarkVerdict::kRegressed);
  // 12 -> 12.3: 0.3 < 0.392.
  EXPECT_EQ(Judge(Row("p", "perplexity", "word_perplexity", kDown, 12.0, 0.12, 12.3, 0.16, 50)).verdict,
            BenchmarkVerdict::kNeutral);
}

TEST(JudgeTest, OneSidedStderrStillUsesTheStderrRule) {
  const Judgement j = Judge(Acc(0.5, 0.03, 0.55, 0));
  EXPECT_EQ(j.basis, ThresholdBasis::kStderr);
  EXPECT_EQ(j.se, 0.03);
  EXPECT_EQ(j.verdict, BenchmarkVerdict::kNeutral);  // 0.05 < 0.0588
}

TEST(JudgeTest, NoStderrUsesTheRelativeTolerance) {
  // Tolerance 0.5% of |16| = 0.08.
  const Judgement up = Judge(Acc(16.0, 0, 16.125, 0));
  EXPECT_EQ(up.basis, ThresholdBasis::kRelativeTolerance);
  EXPECT_EQ(up.se, 0);
  EXPECT_EQ(up.threshold, 0.08);
  EXPECT_EQ(up.verdict, BenchmarkVerdict::kImproved);
  EXPECT_EQ(Judge(Acc(16.0, 0, 15.875, 0)).verdict, BenchmarkVerdict::kRegressed);
  EXPECT_EQ(Judge(Acc(16.0, 0, 16.0625, 0)).verdict, BenchmarkVerdict::kNeutral);
  EXPECT_EQ(Judge(Acc(16.0, 0, 15.9375, 0)).verdict, BenchmarkVerdict::kNeutral);
  // The tolerance is of |base|: a negative base still gets a positive band.
  const Judgement neg = Judge(Acc(-16.0, 0, -15.875, 0));
  EXPECT_EQ(neg.threshold, 0.08);
  EXPECT_EQ(neg.verdict, BenchmarkVerdict::kImproved);
  // Lower-is-better: 16 -> 16.125 is worse.
  EXPECT_EQ(Judge(Row("p", "perplexity", "ppl", kDown, 16.0, 0, 16.125, 0, 9)).verdict, BenchmarkVerdict::kRegressed);
}

TEST(JudgeTest, NoStderrWithAZeroBaseCountsAnyChange) {
  EXPECT_EQ(Judge(Acc(0, 0, 0, 0)).verdict, BenchmarkVerdict::kNeutral);
  EXPECT_EQ(Judge(Acc(0, 0, 1e-9, 0)).verdict, BenchmarkVerdict::kImproved);
  EXPECT_EQ(Judge(Acc(0, 0, -1e-9, 0)).verdict, BenchmarkVerdict::kRegressed);
}

TEST(JudgeTest, MalformedNumbersAreInconclusive) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(Judge(Acc(0.5, 0.03, nan, 0.04)).verdict, BenchmarkVerdict::kInconclusive);
  EXPECT_EQ(Judge(Acc(inf, 0.03, 0.5, 0.04)).verdict, BenchmarkVerdict::kInconclusive);
  EXPECT_EQ(Judge(Acc(0.5, nan, 0.5, 0.04)).verdict, BenchmarkVerdict::kInconclusive);
  EXPECT_EQ(Judge(Acc(0.5, 0.03, 0.5, inf)).verdict, BenchmarkVerdict::kInconclusive);
  EXPECT_EQ(Judge(Acc(0.5, -0.03, 0.9, 0.04)).verdict, BenchmarkVerdict::kInconclusive);
}

TEST(JudgeTest, VerdictNames) {
  EXPECT_EQ(BenchmarkVerdictName(BenchmarkVerdict::kImproved), "improved");
  EXPECT_EQ(BenchmarkVerdictName(BenchmarkVerdict::kNeutral), "neutral within noise");
  EXPECT_EQ(BenchmarkVerdictName(BenchmarkVerdict::kRegressed), "regressed (negative transfer)");
  EXPECT_EQ(BenchmarkVerdictName(BenchmarkVerdict::kInconclusive), "inconclusive");
}

// Rows with a known verdict (se 0.05, threshold 0.098).
BenchmarkComparison Improved(const char* name) { return Row(name, "s", "acc", kUp, 0.5, 0.03, 0.6, 0.04, 100); }
BenchmarkComparison Neutral(const char* name) { return Row(name, "s", "acc", kUp, 0.5, 0.03, 0.5, 0.04, 100); }
BenchmarkComparison Regressed(const char* name) { return Row(name, "s", "acc", kUp, 0.6, 0.03, 0.5, 0.04, 100); }
BenchmarkComparison Inconclusive(const char* name) {
  return Row(name, "s", "acc", kUp, 0.5, 0.03, std::numeric_limits<double>::quiet_NaN(), 0.04, 100);
}

TransferReport Report(std::optional<BenchmarkComparison> task, std::vector<BenchmarkComparison> rows) {
  TransferReport r;
  r.task = std::move(task);
  r.benchmarks = std::move(rows);
  return r;
}

TEST(JudgeOverallTest, ParetoImprovement) {
  const OverallVerdict v = JudgeOverall(Report(Improved("task"), {Improved("mmlu"), Neutral("hellaswag")}));
  EXPECT_EQ(v.kind, OverallVerdictKind::kParetoImprovement);
  EXPECT_EQ(v.improved, std::vector<std::string>{"mmlu"});
  EXPECT_TRUE(v.regressed.empty());
  EXPECT_EQ(DescribeOverall(v), "Pareto improvement");
}

TEST(JudgeOverallTest, ParetoWithNoBenchmarksAtAll) {
  EXPECT_EQ(JudgeOverall(Report(Improved("task"), {})).kind, OverallVerdictKind::kParetoImprovement);
}

TEST(JudgeOverallTest, TaskGainWithNegativeTransferListsTheRegressedInOrder) {
  const OverallVerdict v =
      JudgeOverall(Report(Improved("task"), {Regressed("mmlu"), Neutral("x"), Regressed("hellaswag")}));
  EXPECT_EQ(v.kind, OverallVerdictKind::kTaskGainWithNegativeTransfer);
  EXPECT_EQ(v.regressed, (std::vector<std::string>{"mmlu", "hellaswag"}));
  EXPECT_EQ(DescribeOverall(v), "task gain with negative transfer: mmlu, hellaswag");
}

TEST(JudgeOverallTest, ABenchmarkWithSeveralRegressedMetricsIsNamedOnce) {
  // Perplexity's word, byte and bits-per-byte rows move together: the headline names the benchmark once.
  const OverallVerdict v = JudgeOverall(
      Report(Neutral("task"), {Regressed("perplexity/wiki"), Regressed("perplexity/wiki"), Regressed("mmlu")}));
  EXPECT_EQ(v.regressed, (std::vector<std::string>{"perplexity/wiki", "mmlu"}));
  EXPECT_EQ(DescribeOverall(v), "negative transfer without task gain: perplexity/wiki, mmlu");
}

TEST(JudgeOverallTest, ARegressionStandsEvenWithInconclusiveRows) {
  const OverallVerdict v = JudgeOverall(Report(Improved("task"), {Inconclusive("a"), Regressed("mmlu")}));
  EXPECT_EQ(v.kind, OverallVerdictKind::kTaskGainWithNegativeTransfer);
  EXPECT_EQ(v.inconclusive, std::vector<std::string>{"a"});
}

TEST(JudgeOverallTest, NoTaskGain) {
  const OverallVerdict v = JudgeOverall(Report(Neutral("task"), {Improved("mmlu"), Inconclusive("a")}));
  EXPECT_EQ(v.kind, OverallVerdictKind::kNoTaskGain);
  EXPECT_EQ(DescribeOverall(v), "no task gain");
}

TEST(JudgeOverallTest, NegativeTransferWithoutTaskGain) {
  OverallVerdict v = JudgeOverall(Report(Neutral("task"), {Regressed("mmlu")}));
  EXPECT_EQ(v.kind, OverallVerdictKind::kNegativeTransferWithoutTaskGain);
  EXPECT_EQ(DescribeOverall(v), "negative transfer without task gain: mmlu");
  // The task inconclusive or absent: the proven regression is still the headline.
  v = JudgeOverall(Report(Inconclusive("task"), {Regressed("mmlu")}));
  EXPECT_EQ(v.kind, OverallVerdictKind::kNegativeTransferWithoutTaskGain);
  EXPECT_EQ(v.inconclusive, std::vector<std::string>{"task"});
  v = JudgeOverall(Report(std::nullopt, {Regressed("mmlu")}));
  EXPECT_EQ(v.kind, OverallVerdictKind::kNegativeTransferWithoutTaskGain);
}

TEST(JudgeOverallTest, TaskRegressed) {
  OverallVerdict v = JudgeOverall(Report(Regressed("task"), {Improved("mmlu")}));
  EXPECT_EQ(v.kind, OverallVerdictKind::kTaskRegressed);
  EXPECT_EQ(DescribeOverall(v), "task regressed");
  v = JudgeOverall(Report(Regressed("task"), {Regressed("mmlu")}));
  EXPECT_EQ(v.kind, OverallVerdictKind::kTaskRegressed);
  EXPECT_EQ(DescribeOverall(v), "task regressed; also regressed: mmlu");
}

TEST(JudgeOverallTest, InconclusiveCases) {
  OverallVerdict v = JudgeOverall(Report(std::nullopt, {Improved("mmlu")}));
  EXPECT_EQ(v.kind, OverallVerdictKind::kInconclusive);
  EXPECT_FALSE(v.task_present);
  EXPECT_EQ(DescribeOverall(v), "inconclusive: no task metric");
  v = JudgeOverall(Report(std::nullopt, {Inconclusive("a")}));
  EXPECT_EQ(DescribeOverall(v), "inconclusive: no task metric; also a");
  v = JudgeOverall(Report(Inconclusive("task"), {Neutral("mmlu")}));
  EXPECT_EQ(v.kind, OverallVerdictKind::kInconclusive);
  EXPECT_EQ(DescribeOverall(v), "inconclusive: task");
  // A task gain with an unreadable benchmark cannot be called Pareto.
  v = JudgeOverall(Report(Improved("task"), {Neutral("mmlu"), Inconclusive("long_context")}));
  EXPECT_EQ(v.kind, OverallVerdictKind::kInconclusive);
  EXPECT_EQ(DescribeOverall(v), "inconclusive: long_context");
}

TEST(JudgeOverallTest, SampleReport) {
  const OverallVerdict v = JudgeOverall(testing::SampleReport());
  EXPECT_EQ(DescribeOverall(v), "task gain with negative transfer: mmlu, perplexity/wikitext");
}

TEST(VerdictRuleTextTest, StatesTheNumbers) {
  EXPECT_NE(kVerdictRuleText.find("1.96 se"), absl::string_view::npos);
  EXPECT_NE(kVerdictRuleText.find("sqrt(se_base^2 + se_tuned^2)"), absl::string_view::npos);
  EXPECT_NE(kVerdictRuleText.find("0.5%"), absl::string_view::npos);
  EXPECT_NE(kVerdictRuleText.find("conservative"), absl::string_view::npos);
}

}  // namespace
}  // namespace ftd
