// The metrics registry's public contract: the exact text-format exposition (order, labels, escaping, cumulative
// buckets), value formatting, registration errors as Status, and exact totals under concurrent updates.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/metrics/build_info.h"
#include "common/metrics/metrics.h"
#include "common/metrics/text_format.h"
#include "common/metrics/text_registry.h"
#include "gtest/gtest.h"

namespace ftd {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

template <typename T>
T* Child(MetricFamily<T>* family, const std::vector<std::string>& values) {
  absl::StatusOr<T*> child = family->WithLabels(values);
  EXPECT_TRUE(child.ok()) << child.status();
  return child.ok() ? *child : nullptr;
}

TEST(MetricsTest, ExposesCountersGaugesAndHistogramsExactly) {
  TextMetricsRegistry registry;
  absl::StatusOr<CounterFamily*> requests =
      registry.AddCounter("ftd_test_requests_total", "Requests served.", {"method", "code"});
  ASSERT_TRUE(requests.ok()) << requests.status();
  Child(*requests, {"POST", "500"})->Increment();
  Child(*requests, {"GET", "200"})->Increment(3);
  Child(*requests, {"GET", "200"})->Increment(0.5);

  absl::StatusOr<GaugeFamily*> queue =
      registry.AddGauge("ftd_test_queue_jobs", "Jobs waiting.\nSecond line, with a \\ and a \"quote\".", {});
  ASSERT_TRUE(queue.ok()) << queue.status();
  Child(*queue, {})->Set(7);

  absl::StatusOr<HistogramFamily*> latency =
      registry.AddHistogram("ftd_test_latency_seconds", "Request latency.", {"device"}, {0.125, 0.5, 1});
  ASSERT_TRUE(latency.ok()) << latency.status();
  Histogram* cpu = Child(*latency, {"cpu"});
  cpu->Observe(0.0625);
  cpu->Observe(0.125);  // On a bound: counted in that bucket (le is "less or equal").
  cpu->Observe(0.375);
  cpu->Observe(2);  // Past the last bound: +Inf only.
  Child(*latency, {"cuda"});

  absl::StatusOr<GaugeFamily*> escaped = registry.AddGauge("ftd_test_paths_ratio", "Escaped label values.", {"path"});
  ASSERT_TRUE(escaped.ok()) << escaped.status();
  Child(*escaped, {"a\"b\\c\nd"})->Set(0.25);

  // Registered with labels but never used: left out, so no bare HELP/TYPE without samples.
  ASSERT_TRUE(registry.AddCounter("ftd_test_unused_total", "Never used.", {"x"}).ok());

  EXPECT_EQ(registry.Expose(),
            "# HELP ftd_test_latency_seconds Request latency.\n"
            "# TYPE ftd_test_latency_seconds histogram\n"
            "ftd_test_latency_seconds_bucket{device=\"cpu\",le=\"0.125\"} 2\n"
            "ftd_test_latency_seconds_bucket{device=\"cpu\",le=\"0.5\"} 3\n"
            "ftd_test_latency_seconds_bucket{device=\"cpu\",le=\"1\"} 3\n"
            "ftd_test_latency_seconds_bucket{device=\"cpu\",le=\"+Inf\"} 4\n"
            "ftd_test_latency_seconds_sum{device=\"cpu\"} 2.5625\n"
            "ftd_test_latency_seconds_count{device=\"cpu\"} 4\n"
            "ftd_test_latency_seconds_bucket{device=\"cuda\",le=\"0.125\"} 0\n"
            "ftd_test_latency_seconds_bucket{device=\"cuda\",le=\"0.5\"} 0\n"
            "ftd_test_latency_seconds_bucket{device=\"cuda\",le=\"1\"} 0\n"
            "ftd_test_latency_seconds_bucket{device=\"cuda\",le=\"+Inf\"} 0\n"
            "ftd_test_latency_seconds_sum{device=\"cuda\"} 0\n"
            "ftd_test_latency_seconds_count{device=\"cuda\"} 0\n"
            "# HELP ftd_test_paths_ratio Escaped label values.\n"
            "# TYPE ftd_test_paths_ratio gauge\n"
            "ftd_test_paths_ratio{path=\"a\\\"b\\\\c\\nd\"} 0.25\n"
            "# HELP ftd_test_queue_jobs Jobs waiting.\\nSecond line, with a \\\\ and a \"quote\".\n"
            "# TYPE ftd_test_queue_jobs gauge\n"
            "ftd_test_queue_jobs 7\n"
            "# HELP ftd_test_requests_total Requests served.\n"
            "# TYPE ftd_test_requests_total counter\n"
            "ftd_test_requests_total{method=\"GET\",code=\"200\"} 3.5\n"
            "ftd_test_requests_total{method=\"POST\",code=\"500\"} 1\n");
  EXPECT_EQ(registry.ContentType(), "text/plain; version=0.0.4; charset=utf-8");
}

TEST(MetricsTest, BuildInfoIsOneGaugeOfValueOneRegisteredOnce) {
  TextMetricsRegistry registry;
  ASSERT_TRUE(RegisterBuildInfo(registry, "ftd").ok());
  EXPECT_FALSE(BuildVersion().empty());
  EXPECT_FALSE(BuildRevision().empty());
  EXPECT_EQ(registry.Expose(),
            absl::StrCat("# HELP ftd_build_info Always 1; its labels say which binary, version and source revision "
                         "is running.\n# TYPE ftd_build_info gauge\nftd_build_info{binary=\"ftd\",version=\"",
                         BuildVersion(), "\",revision=\"", BuildRevision(), "\"} 1\n"));
  EXPECT_EQ(RegisterBuildInfo(registry, "ftd").code(), absl::StatusCode::kAlreadyExists);
}

TEST(MetricsTest, UnlabelledFamiliesShowFromTheStart) {
  TextMetricsRegistry registry;
  ASSERT_TRUE(registry.AddCounter("ftd_test_events_total", "Events.", {}).ok());
  ASSERT_TRUE(registry.AddHistogram("ftd_test_size_bytes", "Sizes.", {}, {1024}).ok());
  EXPECT_EQ(registry.Expose(),
            "# HELP ftd_test_events_total Events.\n"
            "# TYPE ftd_test_events_total counter\n"
            "ftd_test_events_total 0\n"
            "# HELP ftd_test_size_bytes Sizes.\n"
            "# TYPE ftd_test_size_bytes histogram\n"
            "ftd_test_size_bytes_bucket{le=\"1024\"} 0\n"
            "ftd_test_size_bytes_bucket{le=\"+Inf\"} 0\n"
            "ftd_test_size_bytes_sum 0\n"
            "ftd_test_size_bytes_count 0\n");
}

TEST(MetricsTest, ChildrenAreStableAndShared) {
  TextMetricsRegistry registry;
  absl::StatusOr<GaugeFamily*> family = registry.AddGauge("ftd_test_memory_bytes", "Memory.", {"device"});
  ASSERT_TRUE(family.ok());
  Gauge* a = Child(*family, {"cpu"});
  Gauge* b = Child(*family, {"cuda"});
  EXPECT_NE(a, b);
  EXPECT_EQ(Child(*family, {"cpu"}), a);
  EXPECT_EQ((*family)->name(), "ftd_test_memory_bytes");
  EXPECT_EQ((*family)->label_names(), std::vector<std::string>{"device"});
}

TEST(MetricsTest, CounterIgnoresNegativeAndNaNIncrements) {
  TextMetricsRegistry registry;
  Counter* c = Child(*registry.AddCounter("ftd_test_things_total", "Things.", {}), {});
  c->Increment(2);
  c->Increment(-1);
  c->Increment(std::nan(""));
  EXPECT_EQ(c->Value(), 2);
}

TEST(MetricsTest, GaugeSetsIncrementsAndDecrements) {
  TextMetricsRegistry registry;
  Gauge* g = Child(*registry.AddGauge("ftd_test_level_ratio", "Level.", {}), {});
  g->Set(0.5);
  g->Increment(0.25);
  g->Decrement();
  EXPECT_EQ(g->Value(), -0.25);
  g->Set(kInf);
  g->Decrement(-3);
  EXPECT_EQ(g->Value(), kInf);
}

TEST(MetricsTest, HistogramPutsNaNInTheInfBucketOnly) {
  TextMetricsRegistry registry;
  Histogram* h = Child(*registry.AddHistogram("ftd_test_wait_seconds", "Waits.", {}, {1, kInf}), {});
  h->Observe(std::nan(""));
  h->Observe(-5);  // Below every bound: the first bucket.
  EXPECT_EQ(registry.Expose(),
            "# HELP ftd_test_wait_seconds Waits.\n"
            "# TYPE ftd_test_wait_seconds histogram\n"
            "ftd_test_wait_seconds_bucket{le=\"1\"} 1\n"
            "ftd_test_wait_seconds_bucket{le=\"+Inf\"} 2\n"
            "ftd_test_wait_seconds_sum NaN\n"
            "ftd_test_wait_seconds_count 2\n");
}

TEST(MetricsTest, FormatsValuesAsPrometheusParsesThem) {
  EXPECT_EQ(FormatMetricValue(kInf), "+Inf");
  EXPECT_EQ(FormatMetricValue(-kInf), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(42), "42");
  EXPECT_EQ(FormatMetricValue(-3.5), "-3.5");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(1e-7), "1e-07");
  EXPECT_EQ(FormatMetricValue(1.5e300), "1.5e+300");
  EXPECT_EQ(FormatMetricValue(9007199254740993.0), "9007199254740992");
  // Every finite value reads back exactly.
  for (double v : {1.0 / 3, 2.0 / 3, 1e21, 123456789.125, 5e-324, std::numeric_limits<double>::max()}) {
    const std::string text = FormatMetricValue(v);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), v) << text;
  }
}

TEST(MetricsTest, EscapesHelpAndLabelValues) {
  EXPECT_EQ(EscapeHelpText("a\\b\nc\"d"), "a\\\\b\\nc\"d");  // Quotes need no escape in HELP.
  EXPECT_EQ(EscapeLabelValue("a\\b\nc\"d"), "a\\\\b\\nc\\\"d");
  EXPECT_EQ(EscapeLabelValue("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  // Invalid UTF-8 (a stray byte, a truncated sequence, an overlong '/', a surrogate) becomes U+FFFD per byte.
  EXPECT_EQ(EscapeLabelValue("x\xFFy"), "x\xEF\xBF\xBDy");
  EXPECT_EQ(EscapeLabelValue("\xC3"), "\xEF\xBF\xBD");
  EXPECT_EQ(EscapeLabelValue("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(EscapeLabelValue("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(MetricsTest, ChecksNames) {
  EXPECT_TRUE(IsValidMetricName("ftd_a:b_1"));
  EXPECT_TRUE(IsValidMetricName("_x"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("1x"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_TRUE(IsValidLabelName("device_2"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("2a"));
  EXPECT_FALSE(IsValidLabelName(""));
}

TEST(MetricsTest, RefusesBadRegistrations) {
  TextMetricsRegistry registry;
  const auto code = [](const auto& result) { return result.status().code(); };
  constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(code(registry.AddGauge("ftd-bad", "h", {})), kInvalid);
  EXPECT_EQ(code(registry.AddCounter("ftd_test_requests", "h", {})), kInvalid);  // No _total.
  EXPECT_EQ(code(registry.AddGauge("ftd_test_a_bytes", "", {})), kInvalid);      // No help.
  EXPECT_EQ(code(registry.AddGauge("ftd_test_b_bytes", "h", {"bad-label"})), kInvalid);
  EXPECT_EQ(code(registry.AddGauge("ftd_test_c_bytes", "h", {"__reserved"})), kInvalid);
  EXPECT_EQ(code(registry.AddGauge("ftd_test_d_bytes", "h", {"x", "y", "x"})), kInvalid);
  EXPECT_EQ(code(registry.AddHistogram("ftd_test_e_seconds", "h", {"le"}, {1})), kInvalid);
  EXPECT_EQ(code(registry.AddHistogram("ftd_test_f_seconds", "h", {}, {})), kInvalid);
  EXPECT_EQ(code(registry.AddHistogram("ftd_test_f_seconds", "h", {}, {kInf})), kInvalid);
  EXPECT_EQ(code(registry.AddHistogram("ftd_test_f_seconds", "h", {}, {1, 1})), kInvalid);
  EXPECT_EQ(code(registry.AddHistogram("ftd_test_f_seconds", "h", {}, {2, 1})), kInvalid);
  EXPECT_EQ(code(registry.AddHistogram("ftd_test_f_seconds", "h", {}, {std::nan(""), 1})), kInvalid);
  EXPECT_EQ(code(registry.AddHistogram("ftd_test_f_seconds", "h", {}, {-kInf, 1})), kInvalid);
  EXPECT_EQ(code(registry.AddHistogram("ftd_test_f_seconds", "h", {}, ExponentialBuckets(1, 0.5, 3))), kInvalid);
  // None of the refused calls claimed its name.
  EXPECT_TRUE(registry.AddHistogram("ftd_test_f_seconds", "h", {}, {1, 2, kInf}).ok());
  EXPECT_TRUE(registry.AddGauge("ftd_test_a_bytes", "h", {}).ok());
  EXPECT_EQ(registry.Expose().find("ftd_test_requests "), std::string::npos);
}

TEST(MetricsTest, RefusesNamesAlreadyExposed) {
  TextMetricsRegistry registry;
  constexpr absl::StatusCode kExists = absl::StatusCode::kAlreadyExists;
  ASSERT_TRUE(registry.AddCounter("ftd_test_jobs_total", "Jobs.", {}).ok());
  EXPECT_EQ(registry.AddCounter("ftd_test_jobs_total", "Jobs.", {}).status().code(), kExists);
  EXPECT_EQ(registry.AddGauge("ftd_test_jobs_total", "Jobs.", {}).status().code(), kExists);
  // A histogram's series clash with other families' names, either way round.
  ASSERT_TRUE(registry.AddHistogram("ftd_test_step_seconds", "Steps.", {}, {1}).ok());
  EXPECT_EQ(registry.AddGauge("ftd_test_step_seconds_count", "h", {}).status().code(), kExists);
  EXPECT_EQ(registry.AddGauge("ftd_test_step_seconds_bucket", "h", {}).status().code(), kExists);
  ASSERT_TRUE(registry.AddGauge("ftd_test_load_sum", "h", {}).ok());
  EXPECT_EQ(registry.AddHistogram("ftd_test_load", "h", {}, {1}).status().code(), kExists);
}

TEST(MetricsTest, WithLabelsRefusesTheWrongNumberOfValues) {
  TextMetricsRegistry registry;
  absl::StatusOr<CounterFamily*> family = registry.AddCounter("ftd_test_rpcs_total", "RPCs.", {"method", "code"});
  ASSERT_TRUE(family.ok());
  EXPECT_EQ((*family)->WithLabels({"GET"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*family)->WithLabels({"GET", "200", "x"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*family)->WithLabels({}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MetricsTest, BucketHelpers) {
  EXPECT_EQ(ExponentialBuckets(0.5, 2, 4), (std::vector<double>{0.5, 1, 2, 4}));
  EXPECT_EQ(LinearBuckets(-1, 0.5, 3), (std::vector<double>{-1, -0.5, 0}));
  EXPECT_TRUE(ExponentialBuckets(0, 2, 4).empty());
  EXPECT_TRUE(ExponentialBuckets(1, 1, 4).empty());
  EXPECT_TRUE(LinearBuckets(0, 0, 4).empty());
  EXPECT_TRUE(LinearBuckets(0, 1, 0).empty());
}

// Threads updating the same children (found through WithLabels concurrently) while another exposes: the totals
// are exact, since every update is one atomic operation on one child.
TEST(MetricsTest, ConcurrentUpdatesGiveExactTotals) {
  TextMetricsRegistry registry;
  absl::StatusOr<CounterFamily*> counters = registry.AddCounter("ftd_test_ops_total", "Ops.", {"kind"});
  absl::StatusOr<GaugeFamily*> gauges = registry.AddGauge("ftd_test_inflight_ops", "In flight.", {});
  absl::StatusOr<HistogramFamily*> histograms =
      registry.AddHistogram("ftd_test_op_seconds", "Op time.", {"kind"}, {0.5, 1.5});
  ASSERT_TRUE(counters.ok() && gauges.ok() && histograms.ok());

  constexpr int kThreads = 8;
  constexpr int kIterations = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter* c = *(*counters)->WithLabels({"read"});
      Gauge* g = *(*gauges)->WithLabels({});
      Histogram* h = *(*histograms)->WithLabels({"read"});
      for (int i = 0; i < kIterations; ++i) {
        c->Increment();
        g->Increment(2);
        g->Decrement(2);
        h->Observe((i + t) % 2);  // 0 and 1 alternate: two buckets.
      }
    });
  }
  std::thread exposer([&] {
    for (int i = 0; i < 50; ++i) EXPECT_NE(registry.Expose(), "");
  });
  for (std::thread& t : threads) t.join();
  exposer.join();

  const double total = kThreads * kIterations;
  EXPECT_EQ((*(*counters)->WithLabels({"read"}))->Value(), total);
  EXPECT_EQ((*(*gauges)->WithLabels({}))->Value(), 0);
  const std::string text = registry.Expose();
  EXPECT_NE(text.find("ftd_test_op_seconds_bucket{kind=\"read\",le=\"0.5\"} 80000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ftd_test_op_seconds_bucket{kind=\"read\",le=\"1.5\"} 160000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ftd_test_op_seconds_sum{kind=\"read\"} 80000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ftd_test_op_seconds_count{kind=\"read\"} 160000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ftd_test_ops_total{kind=\"read\"} 160000\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace ftd
