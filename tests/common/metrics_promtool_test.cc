// Prometheus's own checker on our exposition: a registry with every metric type, labels, escaping and special
// values is written to a file and `promtool check metrics` must parse it and find no lint problem (exit 0).
// Skips with a message where promtool is absent (scripts/install-deps.sh installs it with Debian's prometheus).
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/metrics/metrics.h"
#include "common/metrics/text_registry.h"
#include "gtest/gtest.h"
#include "tests/common/find_program.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A registry like a daemon's: a few families of each type, several children, awkward label values.
void Populate(TextMetricsRegistry& registry) {
  CounterFamily* requests =
      *registry.AddCounter("ftd_test_http_requests_total", "HTTP requests by path and code.", {"path", "code"});
  (*requests->WithLabels({"/metrics", "200"}))->Increment(12);
  (*requests->WithLabels({"/readyz", "503"}))->Increment();
  (*requests->WithLabels({"quote \" backslash \\ newline \n end", "200"}))->Increment(2);
  (*requests->WithLabels({"caf\xC3\xA9 and a stray \xFF byte", "200"}))->Increment(3);

  GaugeFamily* memory = *registry.AddGauge("ftd_test_memory_bytes", "Memory in use.\nBy device.", {"device"});
  (*memory->WithLabels({"cpu"}))->Set(1.5e9);
  (*memory->WithLabels({"cuda"}))->Set(0);
  GaugeFamily* odd = *registry.AddGauge("ftd_test_odd_ratio", "Special values \\ all of them.", {"kind"});
  (*odd->WithLabels({"nan"}))->Set(std::numeric_limits<double>::quiet_NaN());
  (*odd->WithLabels({"inf"}))->Set(std::numeric_limits<double>::infinity());
  (*odd->WithLabels({"minus_inf"}))->Set(-std::numeric_limits<double>::infinity());
  (*odd->WithLabels({"tiny"}))->Set(1e-300);

  HistogramFamily* steps = *registry.AddHistogram("ftd_test_step_seconds", "Training step time.", {"rank"},
                                                  ExponentialBuckets(0.001, 10, 5));
  for (int i = 0; i < 20; ++i) (*steps->WithLabels({"0"}))->Observe(0.0005 * (i + 1) * (i + 1));
  (*steps->WithLabels({"1"}))->Observe(3);
  HistogramFamily* sizes =
      *registry.AddHistogram("ftd_test_chunk_bytes", "Chunk sizes.", {}, LinearBuckets(0, 1024, 4));
  (*sizes->WithLabels({}))->Observe(100);
}

TEST(MetricsPromtoolTest, PromtoolAcceptsTheExposition) {
  const std::string promtool = FindProgram("promtool");
  if (promtool.empty()) GTEST_SKIP() << "promtool is not on PATH (Debian package prometheus): not checked";

  TextMetricsRegistry registry;
  Populate(registry);
  const std::string text = registry.Expose();

  TempDir dir("ftd_promtool");
  const std::string metrics_path = dir.file("metrics.txt");
  {
    std::ofstream out(metrics_path, std::ios::binary);
    out << text;
    ASSERT_TRUE(out.good()) << metrics_path;
  }
  // promtool reads the metrics on stdin.
  const std::string out_path = dir.file("promtool.out");
  const std::string err_path = dir.file("promtool.err");
  const pid_t pid = SpawnCommand({"/bin/sh", "-c", absl::StrCat("exec '", promtool, "' check metrics < '",
                                                                  metrics_path, "'")},
                                 out_path, err_path);
  ASSERT_GT(pid, 0);
  const int code = ExitCode(pid);
  EXPECT_EQ(code, 0) << "promtool check metrics exited " << code << " (1: parse error, 3: lint problems)\nstdout:\n"
                     << ReadFile(out_path) << "stderr:\n"
                     << ReadFile(err_path) << "exposition:\n"
                     << text;
}

// The checker does catch what it should, so a pass above means something.
TEST(MetricsPromtoolTest, PromtoolRejectsABrokenExposition) {
  const std::string promtool = FindProgram("promtool");
  if (promtool.empty()) GTEST_SKIP() << "promtool is not on PATH (Debian package prometheus): not checked";
  TempDir dir("ftd_promtool");
  const std::string metrics_path = dir.file("metrics.txt");
  {
    std::ofstream out(metrics_path, std::ios::binary);
    out << "# TYPE ftd_test_x_total counter\nftd_test_x_total{path=\"unterminated} 1\n";
  }
  const pid_t pid = SpawnCommand({"/bin/sh", "-c", absl::StrCat("exec '", promtool, "' check metrics < '",
                                                                  metrics_path, "'")},
                                 dir.file("out"), dir.file("err"));
  EXPECT_NE(ExitCode(pid), 0);
}

}  // namespace
}  // namespace ftd
