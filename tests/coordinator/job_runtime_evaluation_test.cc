// The battery's dispatch in the JobRuntime: an early-stopped job's result is scored before the job ends
// EARLY_STOPPED, and a stand-alone evaluation (Job.evaluation) runs as a one-rank job whose rank scores from the
// start: its target, then its baseline, then the report; without a baseline it ends after its target.
#include <optional>
#include <string>
#include <vector>

#include "coordinator/service/evaluation_jobs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/job_runtime_testing.h"

namespace ftd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

v1::Benchmark Piqa() {
  v1::Benchmark benchmark;
  benchmark.set_suite(v1::BENCHMARK_SUITE_PIQA);
  benchmark.set_path("/data/piqa/valid.jsonl");
  benchmark.set_limit(100);
  return benchmark;
}

v1::BenchmarkResult Result(double acc, const std::string& model_sha256 = "", const std::string& data_sha256 = "") {
  v1::BenchmarkResult result;
  *result.mutable_benchmark() = Piqa();
  result.set_model_sha256(model_sha256);
  result.set_data_sha256(data_sha256);
  v1::MetricValue& metric = *result.add_metrics();
  metric.set_metric("acc");
  metric.set_value(acc);
  metric.set_stderr(0.01);
  metric.set_stderr_method(v1::STDERR_METHOD_SAMPLE);
  metric.set_n(100);
  metric.set_direction(v1::METRIC_DIRECTION_HIGHER_IS_BETTER);
  return result;
}

class JobRuntimeEvaluationTest : public JobRuntimeTest {
 protected:
  // Rank 0's DONE carrying one result per benchmark (an EVALUATE rank's end).
  absl::Status ReportResults(const std::vector<v1::BenchmarkResult>& results, const std::string& baseline_sha256 = "") {
    v1::ReportMetricsRequest request = Request(0);
    SetState(request, v1::RANK_STATE_DONE);
    for (const v1::BenchmarkResult& result : results) *request.add_results() = result;
    request.set_baseline_model_sha256(baseline_sha256);
    return runtime_->Report(request).status();
  }

  // Stores a QUEUED stand-alone evaluation as RunEvaluation would and places it.
  void QueueEvaluation(bool with_baseline, const std::string& baseline_path = "/models/tiny") {
    v1::RunEvaluationRequest request;
    request.mutable_target()->mutable_adapter()->set_base_model("/models/tiny");
    request.mutable_target()->mutable_adapter()->set_adapter_path("/adapters/a");
    if (with_baseline) request.mutable_baseline()->set_model_path(baseline_path);
    *request.add_benchmarks() = Piqa();
    request.set_device(v1::DEVICE_CPU);
    request.set_world_size(1);
    QueueJobAndPlace(
        [&](v1::Job& job) {
          job.mutable_resolved_spec()->set_world_size(1);
          *job.mutable_resolved_spec()->add_benchmarks() = Piqa();
          *job.mutable_evaluation() = request;
          job.set_evaluation_role(v1::EVALUATION_ROLE_TUNED);
        },
        "EvaluationSubmitted");
  }
};

TEST_F(JobRuntimeEvaluationTest, AnEarlyStoppedJobsResultIsScoredBeforeItEndsEarlyStopped) {
  QueueAndPlace([](v1::JobSpec& spec) { *spec.add_benchmarks() = Piqa(); });
  const std::string rank0_worker = WorkerOf(0);
  std::unique_ptr<AssignmentStream> stream = Watch(rank0_worker);
  ASSERT_EQ(stream->Next().run_rank().task(), v1::RANK_TASK_TRAIN);
  MustReportState(0, v1::RANK_STATE_TRAINING);
  MustPut(30, /*best=*/true);
  MustPut(50, false, /*final_result=*/true);
  v1::ReportMetricsRequest stop = Request(0);
  SetState(stop, v1::RANK_STATE_EARLY_STOPPED);
  stop.mutable_status()->mutable_early_stop()->set_step(50);
  stop.mutable_status()->mutable_early_stop()->set_limit(12.0);
  ASSERT_TRUE(runtime_->Report(stop).ok());

  v1::Job job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_EVALUATING);
  EXPECT_TRUE(job.stopped_early());
  EXPECT_EQ(job.evaluation_role(), v1::EVALUATION_ROLE_TUNED);
  ASSERT_EQ(job.placement_size(), 1);
  const v1::RunRank tuned = stream->Next().run_rank();
  EXPECT_EQ(tuned.task(), v1::RANK_TASK_EVALUATE);
  EXPECT_EQ(tuned.eval_target().checkpoint(), "jobs/ft-000001/checkpoints/final");

  ASSERT_TRUE(ReportResults({Result(0.62)}).ok());
  EXPECT_EQ(Job().evaluation_role(), v1::EVALUATION_ROLE_BASE);
  const v1::RunRank base = stream->Next().run_rank();
  EXPECT_EQ(base.eval_target().model_path(), "/models/tiny");
  ASSERT_TRUE(ReportResults({Result(0.55)}).ok());

  job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_EARLY_STOPPED);
  EXPECT_THAT(StateChain(),
              ElementsAre(Pair(v1::JOB_STATE_QUEUED, "Submitted"), Pair(v1::JOB_STATE_SCHEDULED, "Placed"),
                          Pair(v1::JOB_STATE_RUNNING, "RanksStarted"),
                          Pair(v1::JOB_STATE_EVALUATING, "GeneralPerplexityRose"),
                          Pair(v1::JOB_STATE_EARLY_STOPPED, "Evaluated")));
  absl::StatusOr<v1::TransferReport> report = store_->GetTransferReport(kJobId);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->name(), "jobs/ft-000001/transferReport");
  ASSERT_EQ(report->comparisons_size(), 1);
  EXPECT_DOUBLE_EQ(report->comparisons(0).base_value(), 0.55);
  EXPECT_DOUBLE_EQ(report->comparisons(0).tuned_value(), 0.62);
}

TEST_F(JobRuntimeEvaluationTest, AStandAloneEvaluationScoresItsTargetThenItsBaselineThenReports) {
  QueueEvaluation(/*with_baseline=*/true);
  std::unique_ptr<AssignmentStream> stream = Watch(WorkerOf(0));
  const v1::RunRank tuned = stream->Next().run_rank();
  EXPECT_EQ(tuned.task(), v1::RANK_TASK_EVALUATE);
  EXPECT_EQ(tuned.eval_role(), v1::EVALUATION_ROLE_TUNED);
  EXPECT_EQ(tuned.eval_target().adapter().adapter_path(), "/adapters/a");
  EXPECT_EQ(tuned.world_size(), 1);

  MustReportState(0, v1::RANK_STATE_EVALUATING);
  EXPECT_EQ(Job().state(), v1::JOB_STATE_EVALUATING);
  // The rank's progress through its benchmark becomes an event; the view shows the latest.
  v1::ReportMetricsRequest progress = Request(0);
  progress.mutable_evaluation_progress()->set_suite(v1::BENCHMARK_SUITE_PIQA);
  progress.mutable_evaluation_progress()->set_items_done(40);
  progress.mutable_evaluation_progress()->set_items_total(100);
  ASSERT_TRUE(runtime_->Report(progress).ok());
  std::optional<v1::EvaluationProgress> seen;
  for (const v1::JobEvent& event : Events()) {
    if (event.has_evaluation_progress()) seen = event.evaluation_progress();
  }
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->items_done(), 40);
  const v1::Evaluation running = EvaluationView(Job(), {}, std::nullopt, seen);
  EXPECT_EQ(running.state(), v1::EVALUATION_STATE_RUNNING);
  EXPECT_EQ(running.progress().items_total(), 100);
  EXPECT_EQ(running.progress().role(), v1::EVALUATION_ROLE_TUNED);
  EXPECT_EQ(running.progress().benchmark_count(), 1);
  ASSERT_TRUE(ReportResults({Result(0.70)}).ok());
  const v1::RunRank base = stream->Next().run_rank();
  EXPECT_EQ(base.eval_role(), v1::EVALUATION_ROLE_BASE);
  EXPECT_EQ(base.eval_target().model_path(), "/models/tiny");
  ASSERT_TRUE(ReportResults({Result(0.60)}).ok());

  const v1::Job job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_THAT(StateChain(),
              ElementsAre(Pair(v1::JOB_STATE_QUEUED, "EvaluationSubmitted"), Pair(v1::JOB_STATE_SCHEDULED, "Placed"),
                          Pair(v1::JOB_STATE_EVALUATING, "EvaluationStarted"),
                          Pair(v1::JOB_STATE_SUCCEEDED, "Evaluated")));
  absl::StatusOr<v1::TransferReport> report = store_->GetTransferReport(kJobId);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->name(), "evaluations/ft-000001/transferReport");
  EXPECT_EQ(report->base_model(), "/models/tiny");
  EXPECT_EQ(report->tuned().adapter().adapter_path(), "/adapters/a");
  EXPECT_EQ(report->comparisons(0).verdict(), v1::VERDICT_IMPROVED);

  // The view GetEvaluation serves.
  absl::StatusOr<std::vector<NamedEvalResult>> stored = store_->ListEvalResults(kJobId);
  ASSERT_TRUE(stored.ok());
  std::vector<v1::BenchmarkResult> results;
  for (const NamedEvalResult& entry : *stored) {
    if (entry.name.rfind("tuned/", 0) == 0) results.push_back(entry.result);
  }
  const v1::Evaluation view = EvaluationView(job, results, *report);
  EXPECT_EQ(view.name(), "evaluations/ft-000001");
  EXPECT_EQ(view.state(), v1::EVALUATION_STATE_SUCCEEDED);
  ASSERT_EQ(view.results_size(), 1);
  EXPECT_DOUBLE_EQ(view.results(0).metrics(0).value(), 0.70);
  EXPECT_TRUE(view.has_report());
}

// Base results are cached by content: a later evaluation whose baseline has the same bytes (the tuned rank reports
// its hash) at another path reuses them and scores no base model; another data hash misses.
TEST_F(JobRuntimeEvaluationTest, CachedBaseResultsFollowTheContentHashesNotThePaths) {
  QueueEvaluation(/*with_baseline=*/true);
  std::unique_ptr<AssignmentStream> stream = Watch(WorkerOf(0));
  EXPECT_EQ(stream->Next().run_rank().baseline_target().model_path(), "/models/tiny");
  ASSERT_TRUE(ReportResults({Result(0.70, "tuned-hash", "data-hash")}, "base-hash").ok());
  EXPECT_EQ(stream->Next().run_rank().eval_role(), v1::EVALUATION_ROLE_BASE);
  ASSERT_TRUE(ReportResults({Result(0.60, "base-hash", "data-hash")}).ok());
  ASSERT_EQ(Job().state(), v1::JOB_STATE_SUCCEEDED);

  // The same base bytes elsewhere: no base rank, the report from the cache.
  job_id_ = "ft-000002";
  QueueEvaluation(/*with_baseline=*/true, "/copies/tiny");
  ASSERT_TRUE(ReportResults({Result(0.75, "tuned-hash-2", "data-hash")}, "base-hash").ok());
  EXPECT_EQ(Job().state(), v1::JOB_STATE_SUCCEEDED);
  absl::StatusOr<v1::TransferReport> report = store_->GetTransferReport(job_id_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_DOUBLE_EQ(report->comparisons(0).base_value(), 0.60);
  EXPECT_DOUBLE_EQ(report->comparisons(0).tuned_value(), 0.75);

  // Edited data (another hash): the base model is scored again.
  job_id_ = "ft-000003";
  QueueEvaluation(/*with_baseline=*/true);
  ASSERT_TRUE(ReportResults({Result(0.75, "tuned-hash-2", "other-data")}, "base-hash").ok());
  EXPECT_EQ(Job().state(), v1::JOB_STATE_EVALUATING);
  EXPECT_EQ(Job().evaluation_role(), v1::EVALUATION_ROLE_BASE);
}

TEST_F(JobRuntimeEvaluationTest, WithoutABaselineTheEvaluationEndsAfterItsTarget) {
  QueueEvaluation(/*with_baseline=*/false);
  ASSERT_TRUE(ReportResults({Result(0.70)}).ok());  // Its first report may already be the DONE.
  const v1::Job job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_THAT(job.state_sequence(), ::testing::Gt(0));
  EXPECT_FALSE(store_->GetTransferReport(kJobId).ok());
  bool said = false;
  for (const v1::JobEvent& event : Events()) {
    if (event.has_state_change() && event.state_change().to_state() == v1::JOB_STATE_SUCCEEDED) {
      EXPECT_THAT(event.state_change().message(), HasSubstr("scored 1 benchmark on /adapters/a on /models/tiny"));
      said = true;
    }
  }
  EXPECT_TRUE(said);
}

}  // namespace
}  // namespace ftd
