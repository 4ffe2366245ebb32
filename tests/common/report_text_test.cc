// The shared words and numbers of the report: the precision rule (signs, rounding to zero, non-finite spellings),
// the table cells, and the task, early-stop and curve lines.
#include "common/report_text.h"

#include <limits>

#include "gtest/gtest.h"
#include "tests/common/transfer_report_fixture.h"

namespace ftd {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(ReportTextTest, FormatValueUsesFourDecimals) {
  EXPECT_EQ(FormatValue(0.65), "0.6500");
  EXPECT_EQ(FormatValue(12.34567), "12.3457");
  EXPECT_EQ(FormatValue(-0.00001), "0.0000");
  EXPECT_EQ(FormatValue(-0.5), "-0.5000");
  EXPECT_EQ(FormatValue(kNan), "nan");
  EXPECT_EQ(FormatValue(-kNan), "nan");
  EXPECT_EQ(FormatValue(kInf), "inf");
  EXPECT_EQ(FormatValue(-kInf), "-inf");
}

TEST(ReportTextTest, FormatDeltaCarriesASign) {
  EXPECT_EQ(FormatDelta(0.0123), "+0.0123");
  EXPECT_EQ(FormatDelta(-0.0123), "-0.0123");
  EXPECT_EQ(FormatDelta(0.00001), "0.0000");
  EXPECT_EQ(FormatDelta(-0.00001), "0.0000");
  EXPECT_EQ(FormatDelta(0), "0.0000");
  EXPECT_EQ(FormatDelta(kInf), "+inf");
  EXPECT_EQ(FormatDelta(-kInf), "-inf");
  EXPECT_EQ(FormatDelta(-kNan), "nan");
}

TEST(ReportTextTest, FormatRateAndTime) {
  EXPECT_EQ(FormatRate(2e-4), "2.00e-04");
  EXPECT_EQ(FormatRate(0), "0.00e+00");
  EXPECT_EQ(FormatTimestamp(absl::FromUnixSeconds(1767323045)), "2026-01-02T03:04:05Z");
  EXPECT_EQ(FormatTimestamp(std::nullopt), "unknown");
}

TEST(ReportTextTest, TableRows) {
  const TransferReport r = testing::SampleReport();
  const TableRow mmlu = BuildTableRow(r.benchmarks[0]);
  EXPECT_EQ(mmlu.verdict, BenchmarkVerdict::kRegressed);
  EXPECT_EQ(mmlu.cells, (std::array<std::string, 6>{"mmlu", "acc ↑", "0.5000 ± 0.0300", "0.3750 ± 0.0400",
                                                     "-0.1250 ± 0.0500", "regressed (negative transfer)"}));
  const TableRow ppl = BuildTableRow(r.benchmarks[2]);
  EXPECT_EQ(ppl.cells, (std::array<std::string, 6>{"perplexity/wikitext", "word_perplexity ↓", "16.0000", "16.5000",
                                                    "+0.5000 (tolerance 0.0800)",
                                                    "regressed (negative transfer) (no stderr: ±0.5% tolerance)"}));
  BenchmarkComparison bad = r.benchmarks[0];
  bad.tuned.value = kNan;
  EXPECT_EQ(BuildTableRow(bad).cells[4], "nan ± 0.0500");
  EXPECT_EQ(BuildTableRow(bad).cells[5], "inconclusive");
}

TEST(ReportTextTest, TaskAndEarlyStopLines) {
  const TransferReport r = testing::SampleReport();
  EXPECT_EQ(TaskGainLine(r.task),
            "Task gain: task (task_loss ↓): base 2.5000 ± 0.0300 → tuned 2.0000 ± 0.0400, delta -0.5000 ± 0.0500: "
            "improved.");
  EXPECT_EQ(TaskGainLine(std::nullopt), "Task gain: no task metric.");
  EXPECT_EQ(EarlyStopLine(r.early_stop),
            "Early stop: at step 200, general perplexity 23.0000 over the limit 22.0000; kept the checkpoint of step "
            "100.");
  EXPECT_EQ(EarlyStopLine(std::nullopt), "Early stop: none.");
}

TEST(ReportTextTest, CurveSummary) {
  EXPECT_EQ(CurveSummaryLines(testing::SampleReport().curves),
            (std::vector<std::string>{
                "Training: 4 steps logged (steps 50–200); task loss 2.7500 → 2.0000 (min 2.0000 at step 200).",
                "Learning rate: peak 4.00e-04 at step 50, final 1.00e-04.",
                "Evals: 3 (steps 0–200); task val loss 2.7500 → 2.2500 (min 2.2500 at step 200); general perplexity "
                "20.0000 → 23.0000 (max 23.0000 at step 200).",
            }));
  EXPECT_EQ(CurveSummaryLines({}), (std::vector<std::string>{"Training: no steps logged.", "Evals: none."}));
}

TEST(ReportTextTest, NonFiniteValuesNeverWinAMinOrMax) {
  TrainingCurves c;
  c.steps = {{1, 3.0, 1e-4}, {2, kNan, kNan}, {3, 2.5, 5e-5}};
  c.evals = {{0, 3.0, 20.0}, {10, kNan, kInf}, {20, 2.0, 25.0}};
  EXPECT_EQ(CurveSummaryLines(c),
            (std::vector<std::string>{
                "Training: 3 steps logged (steps 1–3); task loss 3.0000 → 2.5000 (min 2.5000 at step 3).",
                "Learning rate: peak 1.00e-04 at step 1, final 5.00e-05.",
                "Evals: 3 (steps 0–20); task val loss 3.0000 → 2.0000 (min 2.0000 at step 20); general perplexity "
                "20.0000 → 25.0000 (max 25.0000 at step 20).",
            }));
}

TEST(ReportTextTest, Facts) {
  const auto facts = ReportFacts(testing::SampleReport());
  ASSERT_EQ(facts.size(), 6u);
  EXPECT_EQ(facts[0], (std::pair<std::string, std::string>{"Job", "jobs/sft-\"demo\""}));
  EXPECT_EQ(facts[3].second, "2026-01-02T03:04:05Z");
  EXPECT_EQ(facts[5], (std::pair<std::string, std::string>{
                          "Overall verdict", "task gain with negative transfer: mmlu, perplexity/wikitext"}));
}

}  // namespace
}  // namespace ftd
