// A small self-contained SVG line chart (polylines over a shared x/y range, an optional dashed horizontal rule) for
// the HTML transfer report. No scripts, no external resources, deterministic text: the same chart renders to the
// same bytes, so reports can be diffed and golden-tested.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ftd {

// How the y-axis labels print (report_text.h's precision rule): kFixed "%.4f", kScientific "%.2e".
enum class AxisFormat { kFixed, kScientific };

struct ChartSeries {
  std::string name;                               // Legend text (escaped when rendered).
  std::string color;                              // A CSS colour the caller controls, e.g. "#1f77b4".
  std::vector<std::pair<double, double>> points;  // (x, y) in x order.
};

// A horizontal dashed line across the plot, e.g. the early-stop perplexity limit.
struct ChartRule {
  double y = 0;
  std::string label;  // Escaped when rendered.
};

struct LineChart {
  std::string title;  // Escaped when rendered.
  std::string x_label;
  AxisFormat y_format = AxisFormat::kFixed;
  std::vector<ChartSeries> series;
  std::optional<ChartRule> rule;
};

// One <svg> element. Each series with >= 1 finite point is one <polyline> with one "x,y" pair per finite point;
// non-finite points (a diverged loss) are left out and counted in a note under the title, since a line cannot be
// drawn through them. The y range covers every finite point and the rule; a flat range is widened so the line
// sits mid-plot. A chart with no finite point says "no data".
std::string RenderSvgLineChart(const LineChart& chart);

}  // namespace ftd
