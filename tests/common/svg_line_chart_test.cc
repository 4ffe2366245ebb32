// The SVG line chart: one polyline per drawable series with one point per finite value, the dashed rule, escaping,
// the "no data" and flat-range cases, and coordinates inside the view box.
#include "common/svg_line_chart.h"

#include <limits>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace ftd {
namespace {

// The "points" attribute of every <polyline>, in order.
std::vector<std::string> Polylines(const std::string& svg) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = svg.find("<polyline", pos)) != std::string::npos) {
    const size_t start = svg.find("points=\"", pos) + 8;
    const size_t end = svg.find('"', start);
    out.push_back(svg.substr(start, end - start));
    pos = end;
  }
  return out;
}

int Count(const std::string& s, const std::string& needle) {
  int n = 0;
  for (size_t pos = s.find(needle); pos != std::string::npos; pos = s.find(needle, pos + 1)) ++n;
  return n;
}

ChartSeries Series(std::string name, std::vector<std::pair<double, double>> points) {
  ChartSeries s;
  s.name = std::move(name);
  s.color = "#123456";
  s.points = std::move(points);
  return s;
}

TEST(SvgLineChartTest, OnePolylinePerSeriesWithOnePointPerValue) {
  LineChart c;
  c.title = "Task loss";
  c.series = {Series("train", {{0, 3}, {1, 2.5}, {2, 2}, {3, 1.5}}), Series("val", {{0, 3.1}, {3, 2.2}})};
  const std::string svg = RenderSvgLineChart(c);
  const std::vector<std::string> lines = Polylines(svg);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(lines[0], ' ')).size(), 4u);
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(lines[1], ' ')).size(), 2u);
  // Every coordinate lies inside the 640 x 260 view box.
  for (const std::string& l : lines) {
    for (absl::string_view pair : absl::StrSplit(l, ' ')) {
      std::vector<std::string> xy = absl::StrSplit(pair, ',');
      ASSERT_EQ(xy.size(), 2u);
      double x = 0, y = 0;
      ASSERT_TRUE(absl::SimpleAtod(xy[0], &x) && absl::SimpleAtod(xy[1], &y)) << pair;
      EXPECT_GE(x, 0);
      EXPECT_LE(x, 640);
      EXPECT_GE(y, 0);
      EXPECT_LE(y, 260);
    }
  }
  // "val" starts at (x min, y max): the plot's top-left corner; "train" ends at (x max, y min): bottom-right.
  EXPECT_TRUE(lines[1].starts_with("72.0,44.0 ")) << lines[1];
  EXPECT_TRUE(lines[0].ends_with(" 624.0,224.0")) << lines[0];
  EXPECT_EQ(Count(svg, "stroke-dasharray"), 0);
  EXPECT_TRUE(svg.starts_with("<svg ")) << svg;
  EXPECT_TRUE(svg.ends_with("</svg>\n"));
}

TEST(SvgLineChartTest, RuleIsADashedLineInsideTheRange) {
  LineChart c;
  c.title = "General perplexity";
  c.series = {Series("ppl", {{0, 20}, {100, 21}})};
  c.rule = ChartRule{30, "limit 30.0000"};  // Above every point: the y range grows to include it.
  const std::string svg = RenderSvgLineChart(c);
  EXPECT_EQ(Count(svg, "<polyline"), 1);
  EXPECT_EQ(Count(svg, "stroke-dasharray=\"6 4\""), 1);
  EXPECT_TRUE(svg.find("y1=\"44.0\" x2=\"624.0\" y2=\"44.0\"") != std::string::npos) << svg;  // At the top edge.
  EXPECT_TRUE(svg.find(">limit 30.0000</text>") != std::string::npos);
  EXPECT_TRUE(svg.find(">30.0000</text>") != std::string::npos);  // y-axis top label.
}

TEST(SvgLineChartTest, NonFinitePointsAreDroppedAndCounted) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  LineChart c;
  c.title = "t";
  c.series = {Series("a", {{0, 1}, {1, nan}, {2, std::numeric_limits<double>::infinity()}, {3, 2}}),
              Series("b", {{0, nan}})};
  const std::string svg = RenderSvgLineChart(c);
  const std::vector<std::string> lines = Polylines(svg);
  ASSERT_EQ(lines.size(), 1u);  // "b" has nothing drawable.
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(lines[0], ' ')).size(), 2u);
  EXPECT_TRUE(svg.find(">3 non-finite points not drawn</text>") != std::string::npos) << svg;
}

TEST(SvgLineChartTest, NoDataAndFlatRanges) {
  LineChart empty;
  empty.title = "Learning rate";
  empty.series = {Series("lr", {})};
  const std::string none = RenderSvgLineChart(empty);
  EXPECT_EQ(Count(none, "<polyline"), 0);
  EXPECT_TRUE(none.find(">no data</text>") != std::string::npos);

  LineChart flat;
  flat.title = "flat";
  flat.y_format = AxisFormat::kScientific;
  flat.series = {Series("lr", {{5, 1e-4}})};  // One point: both ranges are flat and get widened.
  const std::vector<std::string> lines = Polylines(RenderSvgLineChart(flat));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "348.0,134.0");  // Mid-plot.
  EXPECT_TRUE(RenderSvgLineChart(flat).find(">1.05e-04</text>") != std::string::npos);  // Widened by 5%.
}

TEST(SvgLineChartTest, EscapesEveryString) {
  LineChart c;
  c.title = "<b>t</b>";
  c.x_label = "x&y";
  c.series = {Series("<script>alert(1)</script>", {{0, 1}, {1, 2}})};
  c.series[0].color = "\"><script>";
  c.rule = ChartRule{1.5, "'<i>'"};
  const std::string svg = RenderSvgLineChart(c);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("<b>"), std::string::npos);
  EXPECT_EQ(svg.find("<i>"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(svg.find("x&amp;y"), std::string::npos);
  EXPECT_NE(svg.find("&#39;&lt;i&gt;&#39;"), std::string::npos);
}

}  // namespace
}  // namespace ftd
