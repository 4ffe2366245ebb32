// The transfer report as a self-contained HTML page (see report_html.h).
#include "common/report_html.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/html_escape.h"
#include "common/report_text.h"
#include "common/svg_line_chart.h"
#include "common/transfer_verdict.h"

namespace ftd {
namespace {

// Inline so the page needs nothing else; no url(), no @import, no web fonts.
constexpr absl::string_view kCss = R"(body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:60em}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.verdict{min-width:12em}
tr.improved td.verdict{color:#2ca02c}
tr.regressed td.verdict{color:#d62728;font-weight:bold}
tr.inconclusive td.verdict{color:#7f7f7f}
p.rule{font-size:.9em;color:#555}
svg.chart{display:block;margin:1em 0;font-size:11px}
svg.chart text.title{font-size:13px;font-weight:bold}
)";

// The page's promise, enforced by the browser: no script runs and nothing is loaded (image, font, stylesheet, frame,
// fetch), even if a string ever slipped past HtmlEscape; only the inline <style> and the inline SVG apply. A
// refused load is logged to the console, which is how tests/common/report_html_render_test.cc sees one.
constexpr absl::string_view kContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'";

absl::string_view RowClass(BenchmarkVerdict v) {
  switch (v) {
    case BenchmarkVerdict::kImproved:
      return "improved";
    case BenchmarkVerdict::kRegressed:
      return "regressed";
    case BenchmarkVerdict::kNeutral:
      return "neutral";
    case BenchmarkVerdict::kInconclusive:
      return "inconclusive";
  }
  return "inconclusive";
}

std::string Table(const TransferReport& report) {
  std::string out = "<table>\n<thead><tr>";
  for (absl::string_view h : kTableHeader) absl::StrAppend(&out, "<th>", HtmlEscape(h), "</th>");
  absl::StrAppend(&out, "</tr></thead>\n<tbody>\n");
  for (const BenchmarkComparison& row : TableComparisons(report)) {
    const TableRow r = BuildTableRow(row);
    absl::StrAppend(&out, "<tr class=\"", RowClass(r.verdict), "\">");
    for (size_t i = 0; i < r.cells.size(); ++i) {
      // Columns 2..4 are numbers; 5 is the verdict.
      absl::string_view cls = i >= 2 && i <= 4 ? " class=\"num\"" : (i == 5 ? " class=\"verdict\"" : "");
      absl::StrAppend(&out, "<td", cls, ">", HtmlEscape(r.cells[i]), "</td>");
    }
    absl::StrAppend(&out, "</tr>\n");
  }
  absl::StrAppend(&out, "</tbody>\n</table>\n");
  return out;
}

ChartSeries Series(std::string name, std::string color) {
  ChartSeries s;
  s.name = std::move(name);
  s.color = std::move(color);
  return s;
}

LineChart Chart(std::string title, AxisFormat y_format, std::vector<ChartSeries> series) {
  LineChart c;
  c.title = std::move(title);
  c.x_label = "step";
  c.y_format = y_format;
  c.series = std::move(series);
  return c;
}

std::string Charts(const TransferReport& report) {
  const TrainingCurves& c = report.curves;
  ChartSeries train = Series("train task loss", "#1f77b4");
  ChartSeries lr = Series("learning rate", "#2ca02c");
  for (const TrainStepPoint& p : c.steps) {
    train.points.emplace_back(static_cast<double>(p.step), p.task_loss);
    lr.points.emplace_back(static_cast<double>(p.step), p.learning_rate);
  }
  ChartSeries val = Series("val task loss", "#ff7f0e");
  ChartSeries ppl = Series("general perplexity", "#9467bd");
  for (const EvalPoint& p : c.evals) {
    val.points.emplace_back(static_cast<double>(p.step), p.task_val_loss);
    ppl.points.emplace_back(static_cast<double>(p.step), p.general_ppl);
  }
  LineChart ppl_chart = Chart("General perplexity", AxisFormat::kFixed, {std::move(ppl)});
  // The limit the guardrail compared with: the one that tripped, else the configured one.
  const std::optional<double> limit =
      report.early_stop.has_value() ? std::optional<double>(report.early_stop->limit) : c.general_ppl_limit;
  if (limit.has_value()) {
    ppl_chart.rule = ChartRule{*limit, absl::StrCat("early-stop limit ", FormatValue(*limit))};
  }
  return absl::StrCat(RenderSvgLineChart(Chart("Task loss", AxisFormat::kFixed, {std::move(train), std::move(val)})),
                      RenderSvgLineChart(ppl_chart),
                      RenderSvgLineChart(Chart("Learning rate", AxisFormat::kScientific, {std::move(lr)})));
}

}  // namespace

std::string RenderHtmlReport(const TransferReport& report) {
  const std::string title = HtmlEscape(absl::StrCat("Transfer report: ", report.job_name));
  std::string out = absl::StrCat("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
                                 "<meta http-equiv=\"Content-Security-Policy\" content=\"", kContentSecurityPolicy,
                                 "\">\n<title>", title, "</title>\n<style>\n", kCss,
                                 "</style>\n</head>\n<body>\n<h1>", title, "</h1>\n<dl>\n");
  for (const auto& [label, value] : ReportFacts(report)) {
    absl::StrAppend(&out, "<dt>", HtmlEscape(label), "</dt><dd>", HtmlEscape(value), "</dd>\n");
  }
  absl::StrAppend(&out, "</dl>\n<h2>Benchmarks</h2>\n", Table(report));
  absl::StrAppend(&out, "<p class=\"rule\">", HtmlEscape(kVerdictRuleText), "</p>\n");
  for (const std::string& note : report.notes) {
    absl::StrAppend(&out, "<p class=\"note\">Note: ", HtmlEscape(note), "</p>\n");
  }
  absl::StrAppend(&out, "<p>", HtmlEscape(TaskGainLine(report.task)), "</p>\n");
  absl::StrAppend(&out, "<p>", HtmlEscape(EarlyStopLine(report.early_stop)), "</p>\n<h2>Training curves</h2>\n<ul>\n");
  for (const std::string& line : CurveSummaryLines(report.curves)) {
    absl::StrAppend(&out, "<li>", HtmlEscape(line), "</li>\n");
  }
  absl::StrAppend(&out, "</ul>\n", Charts(report), "</body>\n</html>\n");
  return out;
}

}  // namespace ftd
