// The Markdown report: the table rows exactly, the rule right under the table, the task, early-stop and curve lines,
// escaping of hostile names, and byte-for-byte determinism.
#include "common/report_markdown.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/transfer_verdict.h"
#include "gtest/gtest.h"
#include "tests/common/transfer_report_fixture.h"

namespace ftd {
namespace {

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(ReportMarkdownTest, TableRowsAndTheRuleUnderThem) {
  const std::string md = RenderMarkdownReport(testing::SampleReport());
  const std::string table =
      "| benchmark | metric | base ± se | tuned ± se | delta ± se | verdict |\n"
      "|---|---|---|---|---|---|\n"
      "| mmlu | acc ↑ | 0.5000 ± 0.0300 | 0.3750 ± 0.0400 | -0.1250 ± 0.0500 | regressed (negative transfer) |\n"
      "| hellaswag | acc_norm ↑ | 0.5000 ± 0.0300 | 0.5625 ± 0.0400 | +0.0625 ± 0.0500 | neutral within noise |\n"
      "| perplexity/wikitext | word_perplexity ↓ | 16.0000 | 16.5000 | +0.5000 (tolerance 0.0800) | regressed "
      "(negative transfer) (no stderr: ±0.5% tolerance) |\n"
      // 0.005 x 0.75 = 0.00375 is a hair under it in binary, so it rounds down.
      "| \\<script\\>alert(1)\\</script\\> | retrieval_acc ↑ | 0.7500 | 0.7500 | 0.0000 (tolerance 0.0037) | neutral "
      "within noise (no stderr: ±0.5% tolerance) |\n"
      "\n";
  EXPECT_TRUE(Contains(md, table + std::string(kVerdictRuleText.data(), kVerdictRuleText.size()) + "\n")) << md;
}

TEST(ReportMarkdownTest, FactsTaskGainEarlyStopAndCurves) {
  const std::string md = RenderMarkdownReport(testing::SampleReport());
  EXPECT_TRUE(md.starts_with("# Transfer report: jobs/sft-\"demo\"\n")) << md;
  EXPECT_TRUE(Contains(md, "- **Overall verdict:** task gain with negative transfer: mmlu, perplexity/wikitext\n"));
  EXPECT_TRUE(Contains(md, "- **Created:** 2026-01-02T03:04:05Z\n"));
  EXPECT_TRUE(Contains(md, "\nTask gain: task (task_loss ↓): base 2.5000 ± 0.0300 → tuned 2.0000 ± 0.0400, delta "
                           "-0.5000 ± 0.0500: improved.\n"));
  EXPECT_TRUE(Contains(md, "\nEarly stop: at step 200, general perplexity 23.0000 over the limit 22.0000; kept the "
                           "checkpoint of step 100.\n"));
  EXPECT_TRUE(Contains(md, "\n- Learning rate: peak 4.00e-04 at step 50, final 1.00e-04.\n"));
}

TEST(ReportMarkdownTest, EveryTaskMetricIsARowAfterTheBenchmarks) {
  TransferReport r = testing::SampleReport();
  r.task_metrics = {*r.task, testing::Row("task/sst2", "task", "macro_f1", MetricDirection::kHigherIsBetter, 0.40,
                                          0.05, 0.60, 0.05, 40)};
  const std::string md = RenderMarkdownReport(r);
  EXPECT_TRUE(Contains(md, "within noise (no stderr: ±0.5% tolerance) |\n"
                           "| task | task_loss ↓ | 2.5000 ± 0.0300 | 2.0000 ± 0.0400 | -0.5000 ± 0.0500 | improved |\n"
                           "| task/sst2 | macro_f1 ↑ | 0.4000 ± 0.0500 | 0.6000 ± 0.0500 | +0.2000 ± 0.0707 | improved "
                           "|\n\n"))
      << md;
}

TEST(ReportMarkdownTest, HostileNamesCannotBreakTheTableOrInjectHtml) {
  EXPECT_EQ(MarkdownEscape("<script>"), "\\<script\\>");
  EXPECT_EQ(MarkdownEscape("a|b\\c`d"), "a\\|b\\\\c\\`d");
  EXPECT_EQ(MarkdownEscape("two\nlines\r\t"), "two lines  ");
  TransferReport r = testing::SampleReport();
  r.benchmarks[0].benchmark = "evil | row\n| injected |";
  const std::string md = RenderMarkdownReport(r);
  EXPECT_FALSE(Contains(md, "<script>"));
  // Still one line per benchmark row, each with exactly 7 unescaped pipes.
  int rows = 0;
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(md, '\n'))) {
    if (!line.starts_with("| ") || line.starts_with("| benchmark")) continue;
    ++rows;
    int pipes = 0;
    for (size_t i = 0; i < line.size(); ++i) pipes += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
    EXPECT_EQ(pipes, 7) << line;
  }
  EXPECT_EQ(rows, 4);
}

TEST(ReportMarkdownTest, Deterministic) {
  EXPECT_EQ(RenderMarkdownReport(testing::SampleReport()), RenderMarkdownReport(testing::SampleReport()));
}

TEST(ReportMarkdownTest, EmptyReportRenders) {
  const std::string md = RenderMarkdownReport(TransferReport{});
  EXPECT_TRUE(Contains(md, "- **Overall verdict:** inconclusive: no task metric\n"));
  EXPECT_TRUE(Contains(md, "Task gain: no task metric.\n"));
  EXPECT_TRUE(Contains(md, "Early stop: none.\n"));
  EXPECT_TRUE(Contains(md, "- **Created:** unknown\n"));
}

}  // namespace
}  // namespace ftd
