// JobMetrics over a text registry: rank 0's samples become the per-job series (the training cost breakdown, MFU,
// memory peak and early-stop threshold among them), each step's seconds counted once however often it arrives; the
// transfer report's rows as benchmark gauges.
#include "coordinator/service/job_metrics.h"

#include <memory>
#include <string>

#include "common/metrics/text_registry.h"
#include "gtest/gtest.h"
#include "tests/testing/exposed_value.h"

namespace ftd {
namespace {

constexpr char kJob[] = "jobs/ft-1";

v1::MetricsSample Step(int64_t step, double allreduce, double data, double mfu, double memory_peak) {
  v1::MetricsSample sample;
  sample.set_step(step);
  sample.set_tokens_seen(100 * step);
  (*sample.mutable_extra())["step_seconds"] = 2.0;
  (*sample.mutable_extra())["allreduce_seconds"] = allreduce;
  (*sample.mutable_extra())["data_seconds"] = data;
  (*sample.mutable_extra())["mfu"] = mfu;
  (*sample.mutable_extra())["device_memory_peak_bytes"] = memory_peak;
  return sample;
}

std::string Series(const std::string& name) { return name + "{job_name=\"" + kJob + "\"}"; }

class JobMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<JobMetrics>> metrics = JobMetrics::Create(registry_);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = std::move(*metrics);
  }
  double Value(const std::string& name) { return ExposedValue(registry_.Expose(), Series(name)); }

  TextMetricsRegistry registry_;
  std::unique_ptr<JobMetrics> metrics_;
};

TEST_F(JobMetricsTest, StepCostsAccumulateOncePerStepAndGaugesFollowTheLatest) {
  metrics_->Sample(kJob, Step(1, 0.25, 0.125, 0.5, 1000));
  metrics_->Sample(kJob, Step(2, 0.5, 0.25, 0.25, 3000));
  EXPECT_EQ(Value("ftd_job_allreduce_seconds_total"), 0.75);
  EXPECT_EQ(Value("ftd_job_data_wait_seconds_total"), 0.375);
  EXPECT_EQ(Value("ftd_job_mfu_ratio"), 0.25);
  EXPECT_EQ(Value("ftd_job_device_memory_peak_bytes"), 3000);
  EXPECT_EQ(Value("ftd_job_tokens_total"), 200);

  // The same report again (a lost ack), then steps re-run after a resume from step 1: nothing is added twice.
  metrics_->Sample(kJob, Step(2, 0.5, 0.25, 0.25, 3000));
  metrics_->Sample(kJob, Step(2, 9, 9, 0.125, 3000));
  EXPECT_EQ(Value("ftd_job_allreduce_seconds_total"), 0.75);
  EXPECT_EQ(Value("ftd_job_data_wait_seconds_total"), 0.375);
  EXPECT_EQ(Value("ftd_job_mfu_ratio"), 0.125) << "a gauge is the latest value, re-run or not";
  metrics_->Sample(kJob, Step(3, 1, 1, 0.5, 2000));
  EXPECT_EQ(Value("ftd_job_allreduce_seconds_total"), 1.75);
  EXPECT_EQ(Value("ftd_job_data_wait_seconds_total"), 1.375);
  EXPECT_EQ(Value("ftd_job_device_memory_peak_bytes"), 2000) << "rank 0's peak as reported (a new attempt's)";
}

TEST_F(JobMetricsTest, TheEarlyStopThresholdComesWithTheEvalThatSetsIt) {
  v1::MetricsSample baseline;
  baseline.set_step(0);
  baseline.set_eval_general_perplexity(20);
  metrics_->Sample(kJob, baseline);
  EXPECT_EQ(Value("ftd_job_general_perplexity"), 20);
  EXPECT_EQ(Value("ftd_job_general_perplexity_limit"), -1) << "no threshold was reported: no series";

  v1::MetricsSample eval;
  eval.set_step(10);
  eval.set_eval_general_perplexity(21);
  (*eval.mutable_extra())["general_ppl_limit"] = 22;
  metrics_->Sample(kJob, eval);
  EXPECT_EQ(Value("ftd_job_general_perplexity"), 21);
  EXPECT_EQ(Value("ftd_job_general_perplexity_limit"), 22);
}

TEST_F(JobMetricsTest, ASampleWithoutCostsLeavesTheirSeriesAbsent) {
  v1::MetricsSample sample;
  sample.set_step(1);
  sample.set_train_loss(3.5);
  metrics_->Sample(kJob, sample);
  EXPECT_EQ(Value("ftd_job_train_loss"), 3.5);
  for (const char* name : {"ftd_job_allreduce_seconds_total", "ftd_job_data_wait_seconds_total", "ftd_job_mfu_ratio",
                           "ftd_job_device_memory_peak_bytes"}) {
    EXPECT_EQ(Value(name), -1) << name << " was never measured";
  }
}

TEST_F(JobMetricsTest, TransferReportRowsBecomeBaseAndTunedGauges) {
  v1::TransferReport report;
  v1::MetricComparison& perplexity = *report.add_comparisons();
  perplexity.set_benchmark("perplexity/general");
  perplexity.set_metric("word_perplexity");
  perplexity.set_base_value(30.5);
  perplexity.set_tuned_value(32.25);
  v1::MetricComparison& task = *report.add_comparisons();
  task.set_benchmark("task/licences");
  task.set_metric("exact_match");
  task.set_base_value(0);
  task.set_tuned_value(0.5);
  metrics_->Transferred(kJob, report);
  const std::string text = registry_.Expose();
  const auto value = [&](const std::string& benchmark, const std::string& metric, const std::string& model) {
    return ExposedValue(text, std::string("ftd_job_benchmark_value{job_name=\"") + kJob + "\",benchmark=\"" +
                                  benchmark + "\",metric=\"" + metric + "\",model=\"" + model + "\"}");
  };
  EXPECT_EQ(value("perplexity/general", "word_perplexity", "base"), 30.5) << text;
  EXPECT_EQ(value("perplexity/general", "word_perplexity", "tuned"), 32.25);
  EXPECT_EQ(value("task/licences", "exact_match", "base"), 0);
  EXPECT_EQ(value("task/licences", "exact_match", "tuned"), 0.5);
}

}  // namespace
}  // namespace ftd
