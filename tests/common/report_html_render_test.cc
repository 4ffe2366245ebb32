// The HTML report in a real browser (headless Chromium, as a child process): the DOM it builds holds every benchmark
// row with the report's numbers and verdicts, the page logs nothing to the console (its Content-Security-Policy
// turns any resource load or script into a console error) and a screenshot renders. Skips with a message where
// chromium is absent (Debian's chromium package, from scripts/install-deps.sh). Six browser runs, ~10 s in all.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/report_html.h"
#include "common/report_text.h"
#include "common/transfer_report.h"
#include "gtest/gtest.h"
#include "tests/common/find_program.h"
#include "tests/common/transfer_report_fixture.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

// Chromium's own limit; `timeout` kills it (and after 5 s more, hard) so a wedged browser fails the test, never
// hangs it.
constexpr absl::string_view kChromiumTimeoutSeconds = "60";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, absl::string_view text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

struct BrowserRun {
  int exit_code = -1;  // 124 or 137: timed out.
  std::string out;     // --dump-dom: the DOM.
  std::string err;     // Chromium's log, the page's console messages among it.
};

// The console messages of the page: with --enable-logging=stderr each is one log line of severity INFO whatever
// its console level ("[pid:tid:time:INFO:CONSOLE:2] "text", source: file:///... (2)"). The report has no scripts,
// so every one is the browser complaining (a CSP violation, an SVG attribute it could not parse).
std::vector<std::string> ConsoleMessages(const std::string& log) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StrContains(line, ":CONSOLE")) out.emplace_back(line);
  }
  return out;
}

// A text node as Chromium's serializer writes it into --dump-dom: & < > and no-break space as entities, quotes as
// they are (unlike HtmlEscape, which the page source uses).
std::string SerializedText(absl::string_view text) {
  return absl::StrReplaceAll(text, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\xC2\xA0", "&nbsp;"}});
}

// The <tr> elements of the page's (one) table body, in order, as the browser serialized them.
std::vector<std::string> BodyRows(const std::string& dom) {
  std::vector<std::string> rows;
  const size_t begin = dom.find("<tbody>");
  const size_t end = dom.find("</tbody>");
  if (begin == std::string::npos || end == std::string::npos) return rows;
  for (size_t pos = dom.find("<tr", begin); pos < end; pos = dom.find("<tr", pos + 1)) {
    rows.push_back(dom.substr(pos, dom.find("</tr>", pos) - pos));
  }
  return rows;
}

// A report whose run diverged: non-finite losses and perplexity, which the charts must leave out rather than
// hand the browser an unparsable SVG attribute.
TransferReport DivergedReport() {
  TransferReport r = testing::SampleReport();
  r.curves.steps[2].task_loss = std::numeric_limits<double>::quiet_NaN();
  r.curves.steps[3].task_loss = std::numeric_limits<double>::infinity();
  r.curves.evals[1].general_ppl = std::numeric_limits<double>::infinity();
  return r;
}

class ReportHtmlRenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = FindProgram("chromium");
    timeout_ = FindProgram("timeout");
    if (chromium_.empty()) {
      GTEST_SKIP() << "chromium is not on PATH (Debian's chromium package is missing; scripts/install-deps.sh "
                      "installs it): the HTML report is not checked in a browser";
    }
    ASSERT_FALSE(timeout_.empty()) << "coreutils' timeout is not on PATH";
  }

  // Writes `html` to <name>.html and loads it in a fresh headless Chromium (its own profile, so runs never share
  // state) with `mode` (--dump-dom, --screenshot=...). The flags are those that work as root in a container
  // with no display and a small /dev/shm.
  BrowserRun Load(absl::string_view name, absl::string_view html, const std::vector<std::string>& mode) {
    const std::string page = dir_.file(absl::StrCat(name, ".html"));
    WriteFile(page, html);
    std::vector<std::string> argv = {timeout_,
                                     "--kill-after=5",
                                     std::string(kChromiumTimeoutSeconds),
                                     chromium_,
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--disable-dev-shm-usage",
                                     "--no-first-run",
                                     absl::StrCat("--user-data-dir=", dir_.file(absl::StrCat(name, ".profile"))),
                                     "--enable-logging=stderr",
                                     "--v=0"};
    argv.insert(argv.end(), mode.begin(), mode.end());
    argv.push_back(absl::StrCat("file://", page));
    const std::string out_path = dir_.file(absl::StrCat(name, ".out"));
    const std::string err_path = dir_.file(absl::StrCat(name, ".err"));
    BrowserRun run;
    const pid_t pid = SpawnCommand(argv, out_path, err_path);
    EXPECT_GT(pid, 0);
    run.exit_code = pid > 0 ? ExitCode(pid) : -1;
    run.out = ReadFile(out_path);
    run.err = ReadFile(err_path);
    EXPECT_EQ(run.exit_code, 0) << "chromium exited " << run.exit_code << " (124 or 137: timed out after "
                                << kChromiumTimeoutSeconds << " s)\ncommand: " << absl::StrJoin(argv, " ")
                                << "\nstderr:\n"
                                << run.err;
    return run;
  }

  TempDir dir_{"ftd_report_html_render"};
  std::string chromium_;
  std::string timeout_;
};

TEST_F(ReportHtmlRenderTest, DomHoldsEveryBenchmarkRowWithTheReportsValues) {
  const TransferReport report = testing::SampleReport();
  const BrowserRun run = Load("sample", RenderHtmlReport(report), {"--dump-dom"});
  ASSERT_TRUE(absl::StrContains(run.out, "</html>")) << "no DOM dumped; stderr:\n" << run.err;

  const std::vector<std::string> rows = BodyRows(run.out);
  ASSERT_EQ(rows.size(), report.benchmarks.size()) << run.out;
  for (size_t i = 0; i < rows.size(); ++i) {
    const BenchmarkComparison& b = report.benchmarks[i];
    const std::string& dom_row = rows[i];
    SCOPED_TRACE(absl::StrCat("row ", i, " (", b.benchmark, "): ", dom_row));
    // The key and the metric as they are; the numbers formatted by the report's own functions, straight from the
    // report's values (so a renderer that printed another row's numbers would fail here, not only on the cells).
    EXPECT_TRUE(absl::StrContains(dom_row, absl::StrCat("<td>", SerializedText(b.benchmark), "</td>")));
    EXPECT_TRUE(absl::StrContains(dom_row, absl::StrCat("<td>", SerializedText(b.metric))));
    EXPECT_TRUE(absl::StrContains(dom_row, absl::StrCat(">", FormatValue(b.base.value))));
    EXPECT_TRUE(absl::StrContains(dom_row, absl::StrCat(">", FormatValue(b.tuned.value))));
    EXPECT_TRUE(absl::StrContains(dom_row, absl::StrCat(">", FormatDelta(b.tuned.value - b.base.value))));
    // Every cell whole, verdict included, in its column's place.
    const TableRow cells = BuildTableRow(b);
    EXPECT_TRUE(absl::StrContains(dom_row, absl::StrCat("<td>", SerializedText(cells.cells[0]), "</td><td>",
                                                        SerializedText(cells.cells[1]), "</td>")));
    for (size_t c = 2; c <= 4; ++c) {
      EXPECT_TRUE(absl::StrContains(dom_row, absl::StrCat("<td class=\"num\">", SerializedText(cells.cells[c]),
                                                          "</td>")))
          << kTableHeader[c] << ": " << cells.cells[c];
    }
    EXPECT_TRUE(absl::StrContains(dom_row, absl::StrCat("<td class=\"verdict\">", SerializedText(cells.cells[5]),
                                                        "</td>")))
        << "verdict: " << cells.cells[5];
  }
  // The benchmark named like a script stayed text: no script element reached the DOM.
  EXPECT_FALSE(absl::StrContains(run.out, "<script"));
  // Three charts, four series, parsed as SVG.
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(run.out, "<svg ")).size() - 1, 3u);
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(run.out, "<polyline ")).size() - 1, 4u);
}

TEST_F(ReportHtmlRenderTest, PagesLogNothingToTheConsole) {
  struct Case {
    const char* name;
    TransferReport report;
  };
  const std::vector<Case> cases = {
      {"sample", testing::SampleReport()}, {"diverged", DivergedReport()}, {"empty", TransferReport{}}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const BrowserRun run = Load(c.name, RenderHtmlReport(c.report), {"--dump-dom"});
    // The policy that makes silence mean "self-contained": a load of anything (image, font, stylesheet, frame)
    // or a script would be refused and logged.
    EXPECT_TRUE(absl::StrContains(run.out, "default-src 'none'")) << "the page carries no CSP";
    const std::vector<std::string> console = ConsoleMessages(run.err);
    EXPECT_TRUE(console.empty()) << "the page logged:\n" << absl::StrJoin(console, "\n");
  }
}

// The console check catches what it should, so a pass above means something: a page that loads an image and runs
// a script logs both (refused by the report's policy), and an SVG attribute the browser cannot parse is logged too.
TEST_F(ReportHtmlRenderTest, ConsoleCheckCatchesABrokenPage) {
  std::string html = RenderHtmlReport(testing::SampleReport());
  const size_t body_end = html.find("</body>");
  ASSERT_NE(body_end, std::string::npos);
  html.insert(body_end,
              "<img src=\"missing.png\"><script>console.error(\"injected\")</script>\n"
              "<svg class=\"chart\" width=\"10\" height=\"10\"><polyline points=\"0,0 nan,1\"/></svg>\n");
  const BrowserRun run = Load("broken", html, {"--dump-dom"});
  const std::string console = absl::StrJoin(ConsoleMessages(run.err), "\n");
  EXPECT_TRUE(absl::StrContains(console, "missing.png")) << console;
  EXPECT_TRUE(absl::StrContains(console, "inline script")) << console;
  EXPECT_TRUE(absl::StrContains(console, "<polyline> attribute points")) << console;
}

TEST_F(ReportHtmlRenderTest, ScreenshotIsAPng) {
  // Kept where FTD_SCREENSHOT_DIR says (to look at it); else in the temp dir, removed with it.
  const char* keep_dir = std::getenv("FTD_SCREENSHOT_DIR");
  const bool keep = keep_dir != nullptr && *keep_dir != '\0';
  const std::string png_path = keep ? absl::StrCat(keep_dir, "/report.png") : dir_.file("report.png");
  const BrowserRun run = Load("screenshot", RenderHtmlReport(testing::SampleReport()),
                              {absl::StrCat("--screenshot=", png_path), "--window-size=1280,2000"});
  const std::string png = ReadFile(png_path);
  ASSERT_GE(png.size(), 24u) << "no screenshot at " << png_path << "; stderr:\n" << run.err;
  EXPECT_TRUE(png.starts_with("\x89PNG\r\n\x1a\n")) << png_path;
  // IHDR: width and height, big-endian, at bytes 16 and 20: the window asked for.
  const auto u32 = [&png](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(png[at + i]);
    return v;
  };
  EXPECT_EQ(u32(16), 1280u);
  EXPECT_EQ(u32(20), 2000u);
  // A blank 1280x2000 page compresses to a few kB; text, a table and three charts take far more.
  EXPECT_GT(png.size(), 20000u) << png_path;
  std::cout << "screenshot: " << png_path
            << (keep ? "" : " (removed with the temp dir; set FTD_SCREENSHOT_DIR to keep it)") << "\n";
}

}  // namespace
}  // namespace ftd
