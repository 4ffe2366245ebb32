// The several-job comparison: the whole table of three methods exactly ("—" for a benchmark one job lacks, the
// early-stop marker, another metric of a benchmark judged otherwise), the across-bases note, notes once each, task
// rows that differ, hostile names, and byte-for-byte determinism.
#include "common/report_compare.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/report_markdown.h"
#include "common/transfer_verdict.h"
#include "gtest/gtest.h"
#include "tests/common/transfer_report_fixture.h"

namespace ftd {
namespace {

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// full: no early stop, no hellaswag, and a bits_per_byte row that, unlike word_perplexity, is within noise.
// lora: the fixture as it is (early-stopped). qlora: perplexity improved, mmlu neutral: a Pareto improvement.
std::vector<TransferReport> ThreeMethods() {
  TransferReport full = testing::SampleReport();
  full.job_name = "jobs/ft-000001";
  full.method = "full";
  full.early_stop.reset();
  full.benchmarks.erase(full.benchmarks.begin() + 1);  // hellaswag.
  full.benchmarks.insert(full.benchmarks.begin() + 2,
                         testing::Row("perplexity/wikitext", "perplexity", "bits_per_byte",
                                      MetricDirection::kLowerIsBetter, 1.0, 0.25, 1.25, 0.25, 62));
  full.notes = {"shared note"};

  TransferReport lora = testing::SampleReport();
  lora.job_name = "jobs/ft-000002";

  TransferReport qlora = testing::SampleReport();
  qlora.job_name = "jobs/ft-000003";
  qlora.method = "qlora";
  qlora.benchmarks[0].tuned = {0.5, 0.04};    // mmlu: neutral.
  qlora.benchmarks[2].tuned = {15.5, 0};      // perplexity: improved beyond the 0.08 tolerance.
  qlora.benchmarks[3].benchmark = "long_context@8192";
  qlora.notes = {"method qlora: quantised", "shared note"};
  return {full, lora, qlora};
}

TEST(ReportCompareTest, OneTableOfTheMethodsSideBySide) {
  const std::string md = RenderComparisonMarkdown(ThreeMethods());
  const std::string expected =
      "# Transfer comparison: 3 jobs\n"
      "\n"
      "- **Base model:** /models/SmolLM2-135M\n"
      "\n"
      "| job | method | steps | task: task (task_loss ↓) | mmlu (acc ↑) | perplexity/wikitext (word_perplexity ↓) | "
      "\\<script\\>alert(1)\\</script\\> (retrieval_acc ↑) | hellaswag (acc_norm ↑) | long_context@8192 "
      "(retrieval_acc ↑) | overall verdict |\n"
      "|---|---|---|---|---|---|---|---|---|---|\n"
      "| jobs/ft-000001 | full | 200 | 2.5000 → 2.0000, -0.5000 ± 0.0500: improved | -0.1250 ± 0.0500: regressed "
      "(negative transfer) | +0.5000 (tolerance 0.0800): regressed (negative transfer) (no stderr: ±0.5% tolerance) "
      "(also bits_per_byte: neutral within noise) | 0.0000 (tolerance 0.0037): neutral within noise (no stderr: "
      "±0.5% tolerance) | — | — | task gain with negative transfer: mmlu, perplexity/wikitext |\n"
      "| jobs/ft-000002 | lora | 100 (early-stopped at 200) | 2.5000 → 2.0000, -0.5000 ± 0.0500: improved | "
      "-0.1250 ± 0.0500: regressed (negative transfer) | +0.5000 (tolerance 0.0800): regressed (negative transfer) "
      "(no stderr: ±0.5% tolerance) | 0.0000 (tolerance 0.0037): neutral within noise (no stderr: ±0.5% tolerance) "
      "| +0.0625 ± 0.0500: neutral within noise | — | task gain with negative transfer: mmlu, perplexity/wikitext |\n"
      "| jobs/ft-000003 | qlora | 100 (early-stopped at 200) | 2.5000 → 2.0000, -0.5000 ± 0.0500: improved | "
      "0.0000 ± 0.0500: neutral within noise | -0.5000 (tolerance 0.0800): improved (no stderr: ±0.5% tolerance) | "
      "— | +0.0625 ± 0.0500: neutral within noise | 0.0000 (tolerance 0.0037): neutral within noise (no stderr: "
      "±0.5% tolerance) | Pareto improvement |\n"
      "\n" +
      std::string(kVerdictRuleText) +
      "\n"
      "\n"
      "Note: shared note\n"
      "\n"
      "Note: method qlora: quantised\n";
  EXPECT_EQ(md, expected) << md;
}

TEST(ReportCompareTest, DifferentBaseModelsSayTheComparisonIsAcrossBases) {
  std::vector<TransferReport> reports = ThreeMethods();
  reports[2].base_model = "/models/SmolLM2-135M-nf4";
  const std::string md = RenderComparisonMarkdown(reports);
  EXPECT_FALSE(Contains(md, "**Base model:**")) << md;
  EXPECT_TRUE(Contains(md, "\nNote: the jobs' base models differ (jobs/ft-000001: /models/SmolLM2-135M; "
                           "jobs/ft-000002: /models/SmolLM2-135M; jobs/ft-000003: /models/SmolLM2-135M-nf4): each "
                           "row compares a job with its own base, so the comparison is across bases.\n"))
      << md;
}

TEST(ReportCompareTest, DifferentTaskRowsNameThemselvesInTheirCells) {
  std::vector<TransferReport> reports = ThreeMethods();
  reports[1].task = testing::Row("task/sst2", "task", "acc", MetricDirection::kHigherIsBetter, 0.5, 0.0, 0.75, 0.0,
                                 40);
  reports[2].task.reset();
  const std::string md = RenderComparisonMarkdown(reports);
  EXPECT_TRUE(Contains(md, "| job | method | steps | task | mmlu (acc ↑) |")) << md;
  EXPECT_TRUE(Contains(md, "| full | 200 | task (task_loss ↓): 2.5000 → 2.0000, -0.5000 ± 0.0500: improved |"));
  EXPECT_TRUE(Contains(md, "| task/sst2 (acc ↑): 0.5000 → 0.7500, +0.2500 (tolerance 0.0025): improved (no stderr: "
                           "±0.5% tolerance) |"))
      << md;
  // No task row: "—" in the task column, and the overall verdict says why it cannot be called.
  EXPECT_TRUE(Contains(md, "| qlora | 100 (early-stopped at 200) | — |")) << md;
  EXPECT_TRUE(Contains(md, "| inconclusive: no task metric |")) << md;
}

TEST(ReportCompareTest, StepsAreAMissingMarkWithoutCurves) {
  std::vector<TransferReport> reports = ThreeMethods();
  reports[0].curves = {};
  EXPECT_TRUE(Contains(RenderComparisonMarkdown(reports), "| jobs/ft-000001 | full | — |"));
}

TEST(ReportCompareTest, HostileNamesCannotBreakTheTable) {
  std::vector<TransferReport> reports = ThreeMethods();
  reports[0].job_name = "jobs/evil | row\n| injected |";
  reports[1].benchmarks[1].benchmark = "hella|swag";
  reports[2].notes.push_back("<b>note</b>");
  const std::string md = RenderComparisonMarkdown(reports);
  EXPECT_FALSE(Contains(md, "<script>"));
  EXPECT_FALSE(Contains(md, "<b>"));
  int rows = 0;
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(md, '\n'))) {
    if (!line.starts_with("| ")) continue;
    ++rows;
    int pipes = 0;
    for (size_t i = 0; i < line.size(); ++i) pipes += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
    // 11 cells: job, method, steps, task, 6 benchmarks ("hella|swag" is a column of its own), overall.
    EXPECT_EQ(pipes, 12) << line;
  }
  EXPECT_EQ(rows, 4);  // The header and three jobs.
}

TEST(ReportCompareTest, DeterministicAndEmpty) {
  EXPECT_EQ(RenderComparisonMarkdown(ThreeMethods()), RenderComparisonMarkdown(ThreeMethods()));
  EXPECT_EQ(RenderComparisonMarkdown({}), "No transfer reports to compare.\n");
}

}  // namespace
}  // namespace ftd
