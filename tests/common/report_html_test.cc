// The HTML report: the same table cells as the Markdown (both come from report_text), escaping of every string,
// one polyline per series with the right number of points, the dashed limit, nothing external, determinism.
#include "common/report_html.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/html_escape.h"
#include "common/report_text.h"
#include "gtest/gtest.h"
#include "tests/common/transfer_report_fixture.h"

namespace ftd {
namespace {

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

int Count(const std::string& s, std::string_view needle) {
  int n = 0;
  for (size_t pos = s.find(needle); pos != std::string::npos; pos = s.find(needle, pos + 1)) ++n;
  return n;
}

// The "points" attribute of every <polyline>, in page order.
std::vector<std::string> Polylines(const std::string& html) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = html.find("<polyline", pos)) != std::string::npos) {
    const size_t start = html.find("points=\"", pos) + 8;
    const size_t end = html.find('"', start);
    out.push_back(html.substr(start, end - start));
    pos = end;
  }
  return out;
}

size_t PointCount(const std::string& points) {
  return std::vector<std::string>(absl::StrSplit(points, ' ')).size();
}

TEST(ReportHtmlTest, TableRowsCarryTheSameCellsAsTheMarkdown) {
  const TransferReport r = testing::SampleReport();
  const std::string html = RenderHtmlReport(r);
  EXPECT_TRUE(Contains(html,
                       "<tr class=\"regressed\"><td>mmlu</td><td>acc ↑</td><td class=\"num\">0.5000 ± 0.0300</td>"
                       "<td class=\"num\">0.3750 ± 0.0400</td><td class=\"num\">-0.1250 ± 0.0500</td>"
                       "<td class=\"verdict\">regressed (negative transfer)</td></tr>\n"))
      << html;
  for (const BenchmarkComparison& row : r.benchmarks) {
    for (const std::string& cell : BuildTableRow(row).cells) {
      EXPECT_TRUE(Contains(html, ">" + HtmlEscape(cell) + "</td>")) << cell;
    }
  }
  EXPECT_EQ(Count(html, "<tr class="), 4);
  EXPECT_TRUE(Contains(html, "<p class=\"rule\">Rule: gain = tuned - base"));
  EXPECT_TRUE(Contains(html, "<p>Early stop: at step 200, general perplexity 23.0000 over the limit 22.0000; kept the "
                             "checkpoint of step 100.</p>"));
  EXPECT_TRUE(Contains(html, "<dt>Overall verdict</dt><dd>task gain with negative transfer: mmlu, "
                             "perplexity/wikitext</dd>"));
}

TEST(ReportHtmlTest, EscapesEveryString) {
  TransferReport r = testing::SampleReport();
  r.base_model = "<img src=x onerror=alert(1)>";
  r.task->benchmark = "<script>task</script>";
  const std::string html = RenderHtmlReport(r);
  std::string lower = html;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  EXPECT_FALSE(Contains(lower, "<script"));
  EXPECT_FALSE(Contains(lower, "<img"));
  EXPECT_TRUE(Contains(html, "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"));
  EXPECT_TRUE(Contains(html, "<title>Transfer report: jobs/sft-&quot;demo&quot;</title>"));
  EXPECT_TRUE(Contains(html, "<dd>&lt;img src=x onerror=alert(1)&gt;</dd>"));
  EXPECT_TRUE(Contains(html, "Task gain: &lt;script&gt;task&lt;/script&gt; (task_loss ↓)"));
}

TEST(ReportHtmlTest, ChartsHaveOnePolylinePerSeriesWithTheRightPointCounts) {
  const std::string html = RenderHtmlReport(testing::SampleReport());
  EXPECT_EQ(Count(html, "<svg "), 3);
  const std::vector<std::string> lines = Polylines(html);
  // Task loss: train (4 steps), val (3 evals); general perplexity (3 evals); learning rate (4 steps).
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(PointCount(lines[0]), 4u);
  EXPECT_EQ(PointCount(lines[1]), 3u);
  EXPECT_EQ(PointCount(lines[2]), 3u);
  EXPECT_EQ(PointCount(lines[3]), 4u);
  EXPECT_TRUE(Contains(html, "<title>train task loss</title>"));
  EXPECT_TRUE(Contains(html, "<title>general perplexity</title>"));
  // The early-stop limit: one dashed line, labelled, in the perplexity chart.
  EXPECT_EQ(Count(html, "stroke-dasharray"), 1);
  EXPECT_TRUE(Contains(html, ">early-stop limit 22.0000</text>"));
  const size_t ppl_chart = html.find("aria-label=\"General perplexity\"");
  const size_t lr_chart = html.find("aria-label=\"Learning rate\"");
  const size_t dashed = html.find("stroke-dasharray");
  EXPECT_LT(ppl_chart, dashed);
  EXPECT_LT(dashed, lr_chart);
}

TEST(ReportHtmlTest, LimitWithoutAnEarlyStopComesFromTheCurves) {
  TransferReport r = testing::SampleReport();
  r.early_stop.reset();
  EXPECT_TRUE(Contains(RenderHtmlReport(r), ">early-stop limit 22.0000</text>"));
  r.curves.general_ppl_limit.reset();
  EXPECT_EQ(Count(RenderHtmlReport(r), "stroke-dasharray"), 0);
}

TEST(ReportHtmlTest, SelfContained) {
  TransferReport r = testing::SampleReport();
  const std::string html = RenderHtmlReport(r);
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>\n"));
  EXPECT_TRUE(html.ends_with("</html>\n"));
  for (std::string_view bad : {"http:", "https:", "//", "src=", "href=", "url(", "@import", "<script", "<link",
                               "<iframe", "<img"}) {
    EXPECT_FALSE(Contains(html, bad)) << bad;
  }
}

TEST(ReportHtmlTest, Deterministic) {
  EXPECT_EQ(RenderHtmlReport(testing::SampleReport()), RenderHtmlReport(testing::SampleReport()));
}

TEST(ReportHtmlTest, EmptyReportRenders) {
  const std::string html = RenderHtmlReport(TransferReport{});
  EXPECT_EQ(Count(html, "<svg "), 3);
  EXPECT_EQ(Count(html, "<polyline"), 0);
  EXPECT_EQ(Count(html, ">no data</text>"), 3);
  EXPECT_EQ(Count(html, "<tr class="), 0);
}

}  // namespace
}  // namespace ftd
