// job_format: the watch line's folding rules (ranks, base perplexity, ETA from sample times, restarts, evaluation,
// early stop), outcomes, durations, tables and JSON, on hand-built protos.
#include "cli/job_format.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ftd {
namespace {

using ::testing::HasSubstr;

v1::Job RunningJob() {
  v1::Job job;
  job.set_name("jobs/ft-000007");
  job.set_state(v1::JOB_STATE_RUNNING);
  job.mutable_progress()->set_total_steps(1000);
  return job;
}

v1::JobEvent Sample(int64_t step, int64_t unix_seconds, double loss) {
  v1::JobEvent event;
  v1::MetricsSample& m = *event.mutable_metrics();
  m.set_step(step);
  m.mutable_time()->set_seconds(unix_seconds);
  m.set_train_loss(loss);
  return event;
}

v1::JobEvent Change(v1::JobState to, const std::string& reason) {
  v1::JobEvent event;
  event.mutable_state_change()->set_to_state(to);
  event.mutable_state_change()->set_reason(reason);
  return event;
}

TEST(FormatEta, Units) {
  EXPECT_EQ(FormatEta(absl::Seconds(45)), "45s");
  EXPECT_EQ(FormatEta(absl::Seconds(150)), "2m30s");
  EXPECT_EQ(FormatEta(absl::Seconds(3720)), "1h02m");
  EXPECT_EQ(FormatEta(absl::Hours(76)), "3d04h");
  EXPECT_EQ(FormatEta(absl::Seconds(-1)), "-");
}

TEST(WatchProgress, SnapshotValuesShowUntilEventsReplaceThem) {
  v1::Job job = RunningJob();
  v1::JobProgress& p = *job.mutable_progress();
  p.set_step(40);
  p.set_train_loss(1.5);
  p.set_eval_general_perplexity(12.345);
  p.set_base_general_perplexity(11.9);
  p.set_tokens_per_second(2.5e6);
  p.mutable_eta()->set_seconds(600);
  WatchProgress progress(job);
  EXPECT_EQ(progress.Line(),
            "jobs/ft-000007 RUNNING step 40/1000 loss 1.5000 ppl 12.35 (base 11.90) 2.5M tok/s eta 10m00s");
  progress.Apply(Sample(41, 100, 1.25));  // One sample gives no rate yet: the coordinator's ETA stays.
  EXPECT_EQ(progress.Line(),
            "jobs/ft-000007 RUNNING step 41/1000 loss 1.2500 ppl 12.35 (base 11.90) 2.5M tok/s eta 10m00s");
  progress.Apply(Sample(51, 120, 1.0));  // 10 steps in 20 s: 949 steps left at 0.5 steps/s.
  EXPECT_THAT(progress.Line(), HasSubstr("step 51/1000 loss 1.0000 "));
  EXPECT_THAT(progress.Line(), HasSubstr(" eta 31m38s"));
}

TEST(WatchProgress, OtherRanksAreIgnoredAndStepZeroIsTheBase) {
  WatchProgress progress(RunningJob());
  v1::JobEvent rank3 = Sample(5, 100, 9.0);
  rank3.mutable_metrics()->set_rank(3);
  progress.Apply(rank3);
  EXPECT_EQ(progress.Line(), "jobs/ft-000007 RUNNING step 0/1000 loss - ppl - - tok/s eta -");
  v1::JobEvent base;
  base.mutable_metrics()->set_step(0);
  base.mutable_metrics()->set_eval_general_perplexity(8.5);
  progress.Apply(base);
  EXPECT_EQ(progress.Line(), "jobs/ft-000007 RUNNING step 0/1000 loss - ppl - (base 8.50) - tok/s eta -");
}

TEST(WatchProgress, RestartResetsTheRate) {
  WatchProgress progress(RunningJob());
  progress.Apply(Sample(10, 100, 2.0));
  progress.Apply(Sample(20, 110, 2.0));
  EXPECT_THAT(progress.Line(), HasSubstr("eta 16m20s"));  // 980 steps at 1 step/s.
  progress.Apply(Change(v1::JOB_STATE_RESTARTING, "RankLost"));
  EXPECT_THAT(progress.Line(), HasSubstr("RESTARTING step 20/1000"));
  EXPECT_THAT(progress.Line(), HasSubstr("eta -"));
  progress.Apply(Change(v1::JOB_STATE_RUNNING, "AllRanksReady"));
  progress.Apply(Sample(16, 200, 2.0));  // Resumed from step 15's checkpoint, slower now.
  progress.Apply(Sample(18, 204, 2.0));
  EXPECT_THAT(progress.Line(), HasSubstr("step 18/1000"));
  EXPECT_THAT(progress.Line(), HasSubstr("eta 32m44s"));  // 982 steps at 0.5 steps/s.
}

TEST(WatchProgress, EvaluationProgressShowsWhileEvaluating) {
  WatchProgress progress(RunningJob());
  progress.Apply(Change(v1::JOB_STATE_EVALUATING, "TrainingDone"));
  v1::JobEvent eval;
  v1::EvaluationProgress& e = *eval.mutable_evaluation_progress();
  e.set_role(v1::EVALUATION_ROLE_TUNED);
  e.set_suite(v1::BENCHMARK_SUITE_MMLU);
  e.set_benchmark_index(1);
  e.set_benchmark_count(4);
  e.set_items_done(120);
  progress.Apply(eval);
  EXPECT_THAT(progress.Line(), HasSubstr("EVALUATING step 0/1000"));
  EXPECT_THAT(progress.Line(), HasSubstr(" eval tuned mmlu 2/4 items 120/?"));
}

TEST(WatchProgress, OutcomesSayWhy) {
  WatchProgress failed(RunningJob());
  v1::JobEvent change = Change(v1::JOB_STATE_FAILED, "Failed");
  v1::JobError& error = *change.mutable_state_change()->mutable_error();
  error.set_code(v1::ERROR_CODE_NAN_LOSS);
  error.set_message("loss became NaN");
  error.set_rank(1);
  error.set_step(40);
  failed.Apply(change);
  EXPECT_EQ(failed.Outcome(), "jobs/ft-000007 FAILED (Failed): NAN_LOSS: loss became NaN (rank 1) at step 40");

  WatchProgress stopped(RunningJob());
  v1::JobEvent fired;
  v1::EarlyStop& e = *fired.mutable_early_stop();
  e.set_step(300);
  e.set_general_perplexity(15.25);
  e.set_base_general_perplexity(11.0);
  e.set_limit(13.2);
  e.set_evaluations_over_limit(3);
  e.set_best_checkpoint("jobs/ft-000007/checkpoints/step-200");
  stopped.Apply(fired);
  stopped.Apply(Change(v1::JOB_STATE_EARLY_STOPPED, "GuardrailFired"));
  EXPECT_EQ(stopped.Outcome(),
            "jobs/ft-000007 EARLY_STOPPED (GuardrailFired): general perplexity 15.25 over the limit 13.20 (base "
            "11.00) for 3 evaluations; kept jobs/ft-000007/checkpoints/step-200");
  EXPECT_THAT(stopped.Line(), HasSubstr("ppl 15.25 (base 11.00)"));
}

TEST(JobFormat, EmptyTablesKeepTheirHeader) {
  EXPECT_EQ(FormatJobTable(google::protobuf::RepeatedPtrField<v1::Job>()),
            "JOB  NAME  STATE  METHOD  STEP  BASE MODEL  CREATED\n");
  EXPECT_THAT(FormatCheckpointTable(google::protobuf::RepeatedPtrField<v1::Checkpoint>()),
              HasSubstr("CHECKPOINT  STEP"));
}

TEST(JobFormat, AStandAloneEvaluationsJobSaysEvalAsItsMethod) {
  google::protobuf::RepeatedPtrField<v1::Job> jobs;
  v1::Job& job = *jobs.Add();
  job.set_name("jobs/ft-000002");
  job.mutable_spec()->set_name("evaluation");
  job.mutable_spec()->set_base_model("/m");
  job.mutable_resolved_spec()->set_method(v1::METHOD_LORA);
  job.mutable_evaluation()->mutable_target()->set_model_path("/m");
  EXPECT_THAT(FormatJobTable(jobs), HasSubstr("jobs/ft-000002  evaluation  UNSPECIFIED  eval  "));
  EXPECT_THAT(FormatJobDetails(job), HasSubstr("method:            eval\n"));
}

TEST(JobFormat, UnknownEnumNumbersPrintAsNumbers) {
  EXPECT_EQ(JobStateName(static_cast<v1::JobState>(42)), "42");
  EXPECT_EQ(JobStateName(v1::JOB_STATE_EARLY_STOPPED), "EARLY_STOPPED");
}

TEST(JobFormat, JsonLayouts) {
  v1::Job job;
  job.set_name("jobs/ft-000001");
  job.set_state(v1::JOB_STATE_RUNNING);
  EXPECT_EQ(ToJson(job, JsonLayout::kOneLine).value(), R"({"name":"jobs/ft-000001","state":"JOB_STATE_RUNNING"})");
  EXPECT_EQ(ToJson(job, JsonLayout::kIndented).value(),
            "{\n \"name\": \"jobs/ft-000001\",\n \"state\": \"JOB_STATE_RUNNING\"\n}");
}

}  // namespace
}  // namespace ftd
