// The SVG line chart of the HTML report (see svg_line_chart.h).
#include "common/svg_line_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/html_escape.h"
#include "common/report_text.h"

namespace ftd {
namespace {

// Geometry in SVG user units. The left margin fits a "%.2e" label.
constexpr double kWidth = 640;
constexpr double kHeight = 260;
constexpr double kLeft = 72;
constexpr double kRight = 16;
constexpr double kTop = 44;
constexpr double kBottom = 36;

struct Range {
  double lo = 0;
  double hi = 0;
  bool empty = true;
  void Add(double v) {
    if (!std::isfinite(v)) return;
    lo = empty ? v : std::min(lo, v);
    hi = empty ? v : std::max(hi, v);
    empty = false;
  }
  // A zero-width range would divide by zero; widen it around the value so a flat line sits mid-plot.
  void Widen() {
    if (hi > lo) return;
    const double pad = lo == 0 ? 1.0 : std::fabs(lo) * 0.05;
    lo -= pad;
    hi += pad;
  }
};

// One decimal is well below a pixel; fixed formatting keeps the bytes deterministic.
std::string Coord(double v) { return absl::StrFormat("%.1f", v); }

std::string YLabel(double v, AxisFormat f) { return f == AxisFormat::kScientific ? FormatRate(v) : FormatValue(v); }

}  // namespace

std::string RenderSvgLineChart(const LineChart& chart) {
  Range xr, yr;
  int64_t dropped = 0;
  for (const ChartSeries& s : chart.series) {
    for (const auto& [x, y] : s.points) {
      if (std::isfinite(x) && std::isfinite(y)) {
        xr.Add(x);
        yr.Add(y);
      } else {
        ++dropped;
      }
    }
  }
  const bool has_data = !xr.empty;
  if (has_data && chart.rule.has_value()) yr.Add(chart.rule->y);

  std::string out = absl::StrFormat(
      "<svg class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">\n",
      static_cast<int>(kWidth), static_cast<int>(kHeight), static_cast<int>(kWidth), static_cast<int>(kHeight),
      HtmlEscape(chart.title));
  absl::StrAppend(&out, "<text class=\"title\" x=\"", Coord(kLeft), "\" y=\"16\">", HtmlEscape(chart.title),
                  "</text>\n");
  // Legend on one line under the title, in series order.
  double lx = kLeft;
  for (const ChartSeries& s : chart.series) {
    absl::StrAppend(&out, "<rect x=\"", Coord(lx), "\" y=\"24\" width=\"10\" height=\"10\" fill=\"",
                    HtmlEscape(s.color), "\"/><text class=\"legend\" x=\"", Coord(lx + 14), "\" y=\"33\">",
                    HtmlEscape(s.name), "</text>\n");
    lx += 24 + 7.0 * static_cast<double>(s.name.size());
  }
  if (dropped > 0) {
    absl::StrAppend(&out, "<text class=\"note\" x=\"", Coord(kWidth - kRight), "\" y=\"16\" text-anchor=\"end\">",
                    dropped, " non-finite point", dropped == 1 ? "" : "s", " not drawn</text>\n");
  }
  const double pw = kWidth - kLeft - kRight;
  const double ph = kHeight - kTop - kBottom;
  absl::StrAppend(&out, "<rect class=\"plot\" x=\"", Coord(kLeft), "\" y=\"", Coord(kTop), "\" width=\"", Coord(pw),
                  "\" height=\"", Coord(ph), "\" fill=\"none\" stroke=\"#999\"/>\n");
  if (!has_data) {
    absl::StrAppend(&out, "<text class=\"note\" x=\"", Coord(kLeft + pw / 2), "\" y=\"", Coord(kTop + ph / 2),
                    "\" text-anchor=\"middle\">no data</text>\n</svg>\n");
    return out;
  }
  xr.Widen();
  yr.Widen();
  auto px = [&](double x) { return kLeft + (x - xr.lo) / (xr.hi - xr.lo) * pw; };
  auto py = [&](double y) { return kTop + ph - (y - yr.lo) / (yr.hi - yr.lo) * ph; };

  // Axis labels: the y range's ends, the x range's ends (steps, so integers), the x-axis name.
  absl::StrAppend(&out, "<text class=\"axis\" x=\"", Coord(kLeft - 4), "\" y=\"", Coord(kTop + 4),
                  "\" text-anchor=\"end\">", YLabel(yr.hi, chart.y_format), "</text>\n");
  absl::StrAppend(&out, "<text class=\"axis\" x=\"", Coord(kLeft - 4), "\" y=\"", Coord(kTop + ph),
                  "\" text-anchor=\"end\">", YLabel(yr.lo, chart.y_format), "</text>\n");
  absl::StrAppend(&out, "<text class=\"axis\" x=\"", Coord(kLeft), "\" y=\"", Coord(kTop + ph + 14), "\">",
                  absl::StrFormat("%.0f", xr.lo), "</text>\n");
  absl::StrAppend(&out, "<text class=\"axis\" x=\"", Coord(kLeft + pw), "\" y=\"", Coord(kTop + ph + 14),
                  "\" text-anchor=\"end\">", absl::StrFormat("%.0f", xr.hi), "</text>\n");
  absl::StrAppend(&out, "<text class=\"axis\" x=\"", Coord(kLeft + pw / 2), "\" y=\"", Coord(kTop + ph + 28),
                  "\" text-anchor=\"middle\">", HtmlEscape(chart.x_label), "</text>\n");

  if (chart.rule.has_value() && std::isfinite(chart.rule->y)) {
    const std::string y = Coord(py(chart.rule->y));
    absl::StrAppend(&out, "<line class=\"rule\" x1=\"", Coord(kLeft), "\" y1=\"", y, "\" x2=\"", Coord(kLeft + pw),
                    "\" y2=\"", y, "\" stroke=\"#d62728\" stroke-dasharray=\"6 4\"/>\n");
    absl::StrAppend(&out, "<text class=\"rule-label\" x=\"", Coord(kLeft + pw - 4), "\" y=\"",
                    Coord(py(chart.rule->y) - 4), "\" text-anchor=\"end\">", HtmlEscape(chart.rule->label),
                    "</text>\n");
  }
  for (const ChartSeries& s : chart.series) {
    std::string pts;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      absl::StrAppend(&pts, pts.empty() ? "" : " ", Coord(px(x)), ",", Coord(py(y)));
    }
    if (pts.empty()) continue;
    absl::StrAppend(&out, "<polyline class=\"series\" fill=\"none\" stroke=\"", HtmlEscape(s.color),
                    "\" stroke-width=\"1.5\" points=\"", pts, "\"><title>", HtmlEscape(s.name),
                    "</title></polyline>\n");
  }
  absl::StrAppend(&out, "</svg>\n");
  return out;
}

}  // namespace ftd
