// JobRuntime's rank reports and failures (fixture: job_runtime_testing.h): reports drive the job's states, rank 0's
// samples its progress, every sample and line is stored once; reports that are not current are refused; failures
// restart the job after a backoff (resuming from the newest checkpoint, aborting the other ranks, dropping the old
// attempt's rendezvous keys) or fail it; lost workers; ranks a heartbeat lists that are no longer assigned.
#include "coordinator/service/job_runtime.h"

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/job_runtime_testing.h"

namespace ftd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

TEST_F(JobRuntimeTest, AStartingRankMovesTheJobToRunning) {
  QueueAndPlace();
  clock_.Advance(absl::Seconds(3));
  v1::ReportMetricsRequest request = Request(1);
  SetState(request, v1::RANK_STATE_STARTING);
  absl::StatusOr<v1::ReportMetricsResponse> response = runtime_->Report(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->acked_batch_sequence(), 1);

  const v1::Job job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(ToTime(job.start_time()), clock_.Now());
  EXPECT_EQ(job.placement_size(), 2);
  EXPECT_THAT(StateChain(),
              ElementsAre(Pair(v1::JOB_STATE_QUEUED, "Submitted"), Pair(v1::JOB_STATE_SCHEDULED, "Placed"),
                          Pair(v1::JOB_STATE_RUNNING, "RanksStarted")));

  // The other rank starting too changes nothing more.
  MustReportState(0, v1::RANK_STATE_TRAINING);
  EXPECT_EQ(Job().state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(StateChain().size(), 3u);
}

TEST_F(JobRuntimeTest, ReportMetricsGoesThroughTheWorkerService) {
  QueueAndPlace();
  v1::ReportMetricsRequest request = Request(0);
  SetState(request, v1::RANK_STATE_STARTING);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ReportMetricsResponse response;
  const grpc::Status status = stub_->ReportMetrics(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.acked_batch_sequence(), request.batch_sequence());
  EXPECT_EQ(Job().state(), v1::JOB_STATE_RUNNING);
}

TEST_F(JobRuntimeTest, RankZeroMetricsUpdateProgressAndEveryRanksAreStored) {
  QueueAndPlace();
  MustReportState(0, v1::RANK_STATE_TRAINING);
  const int events_before = static_cast<int>(Events().size());

  v1::ReportMetricsRequest request = Request(0);
  v1::MetricsSample& base = *request.add_metrics();  // The base model's evaluation before training.
  base.set_step(0);
  base.set_eval_general_perplexity(10.0);
  v1::MetricsSample& step4 = *request.add_metrics();
  step4.set_step(4);
  step4.set_train_loss(2.5);
  v1::MetricsSample& step5 = *request.add_metrics();
  step5.set_step(5);
  step5.set_train_loss(2.25);
  step5.set_epoch(0.1);
  step5.set_tokens_seen(5000);
  step5.set_tokens_per_second(800);
  step5.set_eval_task_loss(1.9);
  step5.set_eval_general_perplexity(12.5);
  (*step5.mutable_extra())["total_steps"] = 100;
  (*step5.mutable_extra())["step_seconds"] = 2.0;
  v1::LogLine& timed = *request.add_logs();
  timed.set_text("step 5 done");
  *timed.mutable_time() = ToProtoTime(clock_.Now() - absl::Seconds(7));
  ASSERT_TRUE(runtime_->Report(request).ok());

  v1::JobProgress progress = Job().progress();
  EXPECT_EQ(progress.step(), 5);
  EXPECT_EQ(progress.total_steps(), 100);
  EXPECT_DOUBLE_EQ(progress.train_loss(), 2.25);
  EXPECT_DOUBLE_EQ(progress.epoch(), 0.1);
  EXPECT_EQ(progress.tokens_seen(), 5000);
  EXPECT_DOUBLE_EQ(progress.tokens_per_second(), 800);
  EXPECT_DOUBLE_EQ(progress.eval_task_loss(), 1.9);
  EXPECT_EQ(progress.last_eval_step(), 5);
  EXPECT_DOUBLE_EQ(progress.eval_general_perplexity(), 12.5);
  EXPECT_DOUBLE_EQ(progress.base_general_perplexity(), 10.0);
  EXPECT_EQ(progress.eta().seconds(), 190) << "95 steps left at 2 s each";

  // Rank 1's samples are stored but are not the job's progress.
  clock_.Advance(absl::Seconds(1));
  v1::ReportMetricsRequest other = Request(1);
  v1::MetricsSample& sample = *other.add_metrics();
  sample.set_step(7);
  sample.set_train_loss(9.0);
  (*sample.mutable_extra())["total_steps"] = 999;
  other.add_logs()->set_text("rank 1 says hello");
  ASSERT_TRUE(runtime_->Report(other).ok());
  progress = Job().progress();
  EXPECT_EQ(progress.step(), 5);
  EXPECT_EQ(progress.total_steps(), 100);
  EXPECT_DOUBLE_EQ(progress.train_loss(), 2.25);

  std::vector<v1::JobEvent> events = Events();
  events.erase(events.begin(), events.begin() + events_before);
  ASSERT_EQ(events.size(), 6u);  // 3 samples and a line of rank 0, a sample and a line of rank 1.
  std::vector<std::pair<int64_t, int32_t>> samples;  // (step, rank)
  std::vector<std::pair<std::string, int32_t>> lines;  // (text, rank)
  for (const v1::JobEvent& event : events) {
    EXPECT_EQ(event.job(), kJob);
    if (event.has_metrics()) samples.emplace_back(event.metrics().step(), event.metrics().rank());
    if (event.has_log()) {
      lines.emplace_back(event.log().text(), event.log().rank());
      if (event.log().rank() == 1) {
        EXPECT_EQ(ToTime(event.log().time()), clock_.Now()) << "a line without a time gets the coordinator's";
      } else {
        EXPECT_EQ(ToTime(event.log().time()), clock_.Now() - absl::Seconds(8)) << "a line's own time is kept";
      }
    }
  }
  EXPECT_THAT(samples, ElementsAre(Pair(0, 0), Pair(4, 0), Pair(5, 0), Pair(7, 1)));
  EXPECT_THAT(lines, ElementsAre(Pair("step 5 done", 0), Pair("rank 1 says hello", 1)));
  EXPECT_DOUBLE_EQ(events[2].metrics().extra().at("total_steps"), 100.0);
}

TEST_F(JobRuntimeTest, ADuplicateBatchIsAckedButNotAppliedTwice) {
  QueueAndPlace();
  v1::ReportMetricsRequest request = Request(0);
  request.add_metrics()->set_step(3);
  request.add_logs()->set_text("once");
  absl::StatusOr<v1::ReportMetricsResponse> first = runtime_->Report(request);
  ASSERT_TRUE(first.ok()) << first.status();
  const size_t events = Events().size();

  absl::StatusOr<v1::ReportMetricsResponse> again = runtime_->Report(request);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->acked_batch_sequence(), request.batch_sequence());
  EXPECT_EQ(Events().size(), events);

  // An older batch arriving late is acked with the newest sequence, and not applied either.
  v1::ReportMetricsRequest next = Request(0);
  next.add_metrics()->set_step(4);
  ASSERT_TRUE(runtime_->Report(next).ok());
  absl::StatusOr<v1::ReportMetricsResponse> late = runtime_->Report(request);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->acked_batch_sequence(), next.batch_sequence());
  EXPECT_EQ(Events().size(), events + 1);

  // The other rank counts its own batches.
  v1::ReportMetricsRequest rank1 = Request(1);
  ASSERT_EQ(rank1.batch_sequence(), 1);
  rank1.add_logs()->set_text("rank 1");
  ASSERT_TRUE(runtime_->Report(rank1).ok());
  EXPECT_EQ(Events().size(), events + 2);

  v1::ReportMetricsRequest zero = Request(0);
  zero.set_batch_sequence(0);
  EXPECT_EQ(runtime_->Report(zero).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobRuntimeTest, ReportsThatAreNotCurrentAreRefused) {
  QueueAndPlace();
  MustReportState(0, v1::RANK_STATE_TRAINING);
  const size_t events = Events().size();

  v1::ReportMetricsRequest other_attempt = Request(0);
  other_attempt.set_attempt(1);
  other_attempt.add_logs()->set_text("from the future");
  absl::Status status = runtime_->Report(other_attempt).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr("current attempt is 0"));

  v1::ReportMetricsRequest other_worker = Request(0);
  other_worker.set_worker(WorkerOf(1));
  other_worker.add_logs()->set_text("from the wrong worker");
  status = runtime_->Report(other_worker).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr("not placed on"));

  v1::ReportMetricsRequest no_such_rank = Request(0);
  no_such_rank.set_rank(2);
  EXPECT_EQ(runtime_->Report(no_such_rank).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Events().size(), events) << "nothing of a refused report is stored";

  v1::ReportMetricsRequest bad_name = Request(0);
  bad_name.set_job("ft-000001");
  EXPECT_EQ(runtime_->Report(bad_name).status().code(), absl::StatusCode::kInvalidArgument);
  v1::ReportMetricsRequest unknown = Request(0);
  unknown.set_job("jobs/ft-000077");
  EXPECT_EQ(runtime_->Report(unknown).status().code(), absl::StatusCode::kNotFound);

  // Once the job has ended, every report of it is refused.
  const std::vector<std::string> holders = {WorkerOf(0), WorkerOf(1)};
  ASSERT_TRUE(Transition(*store_, kJobId, {v1::JOB_STATE_CANCELLED}).ok());
  v1::ReportMetricsRequest after_end;
  after_end.set_worker(holders[0]);
  after_end.set_job(kJob);
  after_end.set_rank(0);
  after_end.set_batch_sequence(100);
  after_end.add_logs()->set_text("too late");
  status = runtime_->Report(after_end).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr("CANCELLED"));
}

TEST_F(JobRuntimeTest, DoneNeedsTheFinalResultThenSucceedsThroughEvaluating) {
  QueueAndPlace();
  MustReportState(0, v1::RANK_STATE_TRAINING);
  const absl::Status early = ReportState(0, v1::RANK_STATE_DONE);
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition) << early;
  EXPECT_THAT(early.message(), HasSubstr("final result"));
  EXPECT_EQ(Job().state(), v1::JOB_STATE_RUNNING);

  const v1::Checkpoint final_result = MustPut(40, false, /*final_result=*/true);
  EXPECT_EQ(final_result.name(), "jobs/ft-000001/checkpoints/final");
  clock_.Advance(absl::Seconds(9));
  MustReportState(0, v1::RANK_STATE_DONE);

  const v1::Job job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(ToTime(job.end_time()), clock_.Now());
  EXPECT_THAT(job.placement(), IsEmpty());
  EXPECT_THAT(StateChain(),
              ElementsAre(Pair(v1::JOB_STATE_QUEUED, "Submitted"), Pair(v1::JOB_STATE_SCHEDULED, "Placed"),
                          Pair(v1::JOB_STATE_RUNNING, "RanksStarted"), Pair(v1::JOB_STATE_EVALUATING, "TrainingDone"),
                          Pair(v1::JOB_STATE_SUCCEEDED, "Succeeded")));
}

TEST_F(JobRuntimeTest, EarlyStoppedEndsTheJobWithItsEarlyStopEvent) {
  QueueAndPlace();
  MustReportState(0, v1::RANK_STATE_TRAINING);
  const v1::Checkpoint best = MustPut(30, /*best=*/true);
  // The stopped run's result (the best checkpoint's weights) must be up first, as for DONE.
  const absl::Status early = ReportState(0, v1::RANK_STATE_EARLY_STOPPED);
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition) << early;
  EXPECT_THAT(early.message(), HasSubstr("RANK_STATE_EARLY_STOPPED before uploading its final result"));
  MustPut(50, false, /*final_result=*/true);

  v1::ReportMetricsRequest request = Request(0);
  SetState(request, v1::RANK_STATE_EARLY_STOPPED);
  v1::EarlyStop& stop = *request.mutable_status()->mutable_early_stop();
  stop.set_step(50);
  stop.set_general_perplexity(14.0);
  stop.set_base_general_perplexity(10.0);
  stop.set_limit(12.0);
  stop.set_evaluations_over_limit(2);
  stop.add_recent_general_perplexities(13.0);
  stop.add_recent_general_perplexities(14.0);
  ASSERT_TRUE(runtime_->Report(request).ok());

  EXPECT_EQ(Job().state(), v1::JOB_STATE_EARLY_STOPPED);
  std::optional<v1::EarlyStop> recorded;
  for (const v1::JobEvent& event : Events()) {
    if (event.has_early_stop()) recorded = event.early_stop();
  }
  ASSERT_TRUE(recorded.has_value());
  EXPECT_EQ(recorded->step(), 50);
  EXPECT_DOUBLE_EQ(recorded->limit(), 12.0);
  EXPECT_THAT(recorded->recent_general_perplexities(), ElementsAre(13.0, 14.0));
  EXPECT_EQ(recorded->best_checkpoint(), best.name());
  EXPECT_EQ(StateChain().back(), std::make_pair(v1::JOB_STATE_EARLY_STOPPED, std::string("GeneralPerplexityRose")));
}

TEST_F(JobRuntimeTest, ALostRankRestartsAfterTheBackoffAndResumesFromTheNewestCheckpoint) {
  QueueAndPlace();
  const std::string rank0_worker = WorkerOf(0);
  const std::string rank1_worker = WorkerOf(1);
  std::unique_ptr<AssignmentStream> rank0_stream = Watch(rank0_worker);
  std::unique_ptr<AssignmentStream> rank1_stream = Watch(rank1_worker);
  ASSERT_EQ(rank0_stream->Next().run_rank().rank(), 0);
  ASSERT_EQ(rank1_stream->Next().run_rank().rank(), 1);
  MustReportState(0, v1::RANK_STATE_TRAINING);
  MustReportState(1, v1::RANK_STATE_TRAINING);
  MustPut(10);
  MustPut(20);
  ASSERT_TRUE(store_->RendezvousSet("jobs/ft-000001/0", "rank_0", "10.0.0.1:4000").ok());

  clock_.Advance(absl::Seconds(2));
  const absl::Time failed_at = clock_.Now();
  MustReportState(1, v1::RANK_STATE_FAILED, absl::StatusCode::kUnavailable, "peer rank 0 went away");

  v1::Job job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_RESTARTING);
  EXPECT_EQ(job.restart_count(), 1);
  EXPECT_EQ(ToTime(job.next_attempt_time()), failed_at + absl::Seconds(5));
  EXPECT_THAT(job.placement(), IsEmpty());
  EXPECT_EQ(job.error().code(), v1::ERROR_CODE_RANK_LOST);
  EXPECT_TRUE(job.error().retryable());
  EXPECT_EQ(job.error().rank(), 1);
  EXPECT_EQ(job.error().step(), 12);
  EXPECT_THAT(job.error().message(), HasSubstr("peer rank 0 went away"));
  const std::vector<v1::JobEvent> events = Events();
  ASSERT_TRUE(events.back().has_state_change());
  EXPECT_EQ(events.back().state_change().reason(), "RankLost");
  EXPECT_EQ(events.back().state_change().from_state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(events.back().state_change().error().code(), v1::ERROR_CODE_RANK_LOST);

  // The surviving rank is told to stop.
  const v1::WorkerCommand abort = rank0_stream->Next();
  ASSERT_TRUE(abort.has_abort_rank()) << abort.DebugString();
  EXPECT_EQ(abort.abort_rank().job(), kJob);
  EXPECT_EQ(abort.abort_rank().attempt(), 0);
  EXPECT_EQ(abort.abort_rank().rank(), 0);
  EXPECT_THAT(abort.abort_rank().reason(), HasSubstr("peer rank 0 went away"));

  // The old attempt's rendezvous keys are gone.
  absl::StatusOr<std::optional<std::string>> key = store_->RendezvousGet("jobs/ft-000001/0", "rank_0");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, std::nullopt);

  // The old attempt can no longer report or upload.
  v1::ReportMetricsRequest stale;
  stale.set_worker(rank0_worker);
  stale.set_job(kJob);
  stale.set_attempt(0);
  stale.set_rank(0);
  stale.set_batch_sequence(50);
  stale.add_logs()->set_text("still here");
  EXPECT_EQ(runtime_->Report(stale).status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<v1::Checkpoint> stale_upload = Put(30, {{"a.bin", "abc"}}, false, false, /*attempt=*/0);
  EXPECT_EQ(stale_upload.status().code(), absl::StatusCode::kFailedPrecondition) << stale_upload.status();

  // Not before the backoff has passed.
  absl::StatusOr<int> released = runtime_->ReleaseRestarts();
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(*released, 0);
  clock_.Advance(absl::Seconds(4));
  released = runtime_->ReleaseRestarts();
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(*released, 0);
  EXPECT_EQ(MustCycle(), 0) << "a RESTARTING job is not placed";
  EXPECT_EQ(Job().state(), v1::JOB_STATE_RESTARTING);

  clock_.Advance(absl::Seconds(1));
  released = runtime_->ReleaseRestarts();
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(*released, 1);
  job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_FALSE(job.has_next_attempt_time());
  EXPECT_EQ(StateChain().back(), std::make_pair(v1::JOB_STATE_QUEUED, std::string("BackoffElapsed")));

  // Placed again, resuming from the newest checkpoint, and each worker is sent the new attempt's rank.
  ASSERT_EQ(MustCycle(), 1);
  job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_SCHEDULED);
  EXPECT_EQ(job.restart_count(), 1);
  EXPECT_EQ(job.resume_checkpoint(), "jobs/ft-000001/checkpoints/step-00000020");
  EXPECT_EQ(StateChain().back().second, "Placed");
  std::set<int32_t> ranks;
  for (AssignmentStream* stream : {rank0_stream.get(), rank1_stream.get()}) {
    v1::WorkerCommand command = stream->Next();
    while (command.has_abort_rank()) command = stream->Next();  // Rank 1's worker may be told to abort it too.
    ASSERT_TRUE(command.has_run_rank()) << command.DebugString();
    EXPECT_EQ(command.run_rank().attempt(), 1);
    EXPECT_EQ(command.run_rank().resume_checkpoint(), "jobs/ft-000001/checkpoints/step-00000020");
    ranks.insert(command.run_rank().rank());
  }
  EXPECT_EQ(ranks, (std::set<int32_t>{0, 1}));

  // The new attempt reports normally.
  MustReportState(0, v1::RANK_STATE_STARTING);
  EXPECT_EQ(Job().state(), v1::JOB_STATE_RUNNING);
}

TEST_F(JobRuntimeTest, ABadInputFailureFailsAtOnce) {
  QueueAndPlace();
  const std::string rank1_worker = WorkerOf(1);
  std::unique_ptr<AssignmentStream> rank1_stream = Watch(rank1_worker);
  ASSERT_TRUE(rank1_stream->Next().has_run_rank());
  MustReportState(0, v1::RANK_STATE_FAILED, absl::StatusCode::kInvalidArgument, "dataset row 7: no \"text\"");

  const v1::Job job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(job.restart_count(), 0);
  EXPECT_EQ(job.error().code(), v1::ERROR_CODE_BAD_INPUT);
  EXPECT_FALSE(job.error().retryable());
  EXPECT_EQ(job.error().rank(), 0);
  EXPECT_THAT(job.error().message(), HasSubstr("dataset row 7"));
  EXPECT_THAT(job.placement(), IsEmpty());
  EXPECT_FALSE(job.has_next_attempt_time());
  EXPECT_EQ(StateChain().back(), std::make_pair(v1::JOB_STATE_FAILED, std::string("Failed")));

  const v1::WorkerCommand abort = rank1_stream->Next();
  ASSERT_TRUE(abort.has_abort_rank()) << abort.DebugString();
  EXPECT_EQ(abort.abort_rank().rank(), 1);
  EXPECT_EQ(abort.abort_rank().attempt(), 0);

  absl::StatusOr<int> released = runtime_->ReleaseRestarts();
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(*released, 0);
  v1::ReportMetricsRequest late;
  late.set_worker(rank1_worker);
  late.set_job(kJob);
  late.set_rank(1);
  late.set_batch_sequence(1);
  SetState(late, v1::RANK_STATE_TRAINING);
  EXPECT_EQ(runtime_->Report(late).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(JobRuntimeTest, RestartsRunOutAfterMaxRestarts) {
  QueueAndPlace([](v1::JobSpec& spec) { spec.set_max_restarts(2); });
  absl::Duration expected_backoff = absl::Seconds(5);
  for (int attempt = 0; attempt < 2; ++attempt) {
    SCOPED_TRACE(absl::StrCat("attempt ", attempt));
    const absl::Time failed_at = clock_.Now();
    MustReportState(attempt % 2, v1::RANK_STATE_FAILED, absl::StatusCode::kDeadlineExceeded, "collective timed out");
    v1::Job job = Job();
    ASSERT_EQ(job.state(), v1::JOB_STATE_RESTARTING);
    EXPECT_EQ(job.restart_count(), attempt + 1);
    EXPECT_EQ(ToTime(job.next_attempt_time()), failed_at + expected_backoff) << "the backoff doubles";
    clock_.Advance(expected_backoff);
    ASSERT_TRUE(Heartbeat(w1_));
    ASSERT_TRUE(Heartbeat(w2_));
    absl::StatusOr<int> released = runtime_->ReleaseRestarts();
    ASSERT_TRUE(released.ok()) << released.status();
    ASSERT_EQ(*released, 1);
    ASSERT_EQ(MustCycle(), 1);
    expected_backoff *= 2;
  }
  MustReportState(0, v1::RANK_STATE_FAILED, absl::StatusCode::kUnavailable, "connection reset");
  const v1::Job job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(job.restart_count(), 2);
  EXPECT_EQ(job.error().code(), v1::ERROR_CODE_RESTARTS_EXHAUSTED);
  EXPECT_FALSE(job.error().retryable());
  EXPECT_THAT(job.error().message(), HasSubstr("max_restarts 2"));
}

TEST_F(JobRuntimeTest, ALostWorkerRestartsItsJob) {
  QueueAndPlace();
  MustReportState(0, v1::RANK_STATE_TRAINING);
  const std::string rank0_worker = WorkerOf(0);
  const std::string rank1_worker = WorkerOf(1);
  std::unique_ptr<AssignmentStream> rank0_stream = Watch(rank0_worker);
  ASSERT_TRUE(rank0_stream->Next().has_run_rank());

  // A third worker holding nothing is lost: no job notices.
  const std::string idle = Register("cpu-node-3");
  runtime_->WorkersLost({idle.substr(std::string("workers/").size())});
  EXPECT_EQ(Job().state(), v1::JOB_STATE_RUNNING);

  // Rank 1's worker stops heartbeating and its lease runs out.
  clock_.Advance(absl::Seconds(20));
  ASSERT_TRUE(Heartbeat(rank0_worker));
  clock_.Advance(absl::Seconds(11));
  const std::vector<std::string> expired = service_->ExpireLeases(clock_.Now());
  ASSERT_THAT(expired, UnorderedElementsAre(rank1_worker.substr(std::string("workers/").size()),
                                            idle.substr(std::string("workers/").size())));
  runtime_->WorkersLost(expired);

  v1::Job job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_RESTARTING);
  EXPECT_EQ(job.restart_count(), 1);
  EXPECT_EQ(job.error().code(), v1::ERROR_CODE_RANK_LOST);
  EXPECT_EQ(job.error().rank(), 1);
  EXPECT_THAT(job.error().message(), HasSubstr(rank1_worker));
  EXPECT_EQ(ToTime(job.next_attempt_time()), clock_.Now() + absl::Seconds(5));
  const v1::WorkerCommand abort = rank0_stream->Next();
  ASSERT_TRUE(abort.has_abort_rank()) << abort.DebugString();
  EXPECT_EQ(abort.abort_rank().rank(), 0);

  // Reported again (the daemon's next sweep sees nothing new, but a repeat must not restart twice).
  runtime_->WorkersLost(expired);
  job = Job();
  EXPECT_EQ(job.state(), v1::JOB_STATE_RESTARTING);
  EXPECT_EQ(job.restart_count(), 1);
}

TEST_F(JobRuntimeTest, AbortUnassignedStopsOnlyRanksThatAreNotCurrent) {
  QueueAndPlace();
  const std::string worker = WorkerOf(0);
  // A second job that has ended, and a rank of a job that does not exist.
  ASSERT_TRUE(Submit(*store_, "ft-000002").ok());
  ASSERT_TRUE(Transition(*store_, "ft-000002", {v1::JOB_STATE_CANCELLED}).ok());
  std::unique_ptr<AssignmentStream> stream = Watch(worker);
  ASSERT_TRUE(stream->Next().has_run_rank());

  auto status_of = [](const std::string& job, int32_t attempt, int32_t rank) {
    v1::RankStatus status;
    status.set_job(job);
    status.set_attempt(attempt);
    status.set_rank(rank);
    status.set_state(v1::RANK_STATE_TRAINING);
    return status;
  };
  runtime_->AbortUnassigned(worker, {status_of(kJob, 0, 0), status_of("jobs/ft-000002", 0, 0), status_of(kJob, 0, 1),
                                     status_of(kJob, 3, 0), status_of("jobs/ft-000099", 0, 0), status_of(kJob, 0, 0)});
  QueueMarker(worker);

  // In order: the ended job, a rank this worker does not hold, an attempt that is not current, a job that does not
  // exist; the current rank (listed twice) gets nothing.
  std::vector<std::pair<std::string, int32_t>> aborted;  // (job, attempt * 10 + rank)
  std::vector<std::string> reasons;
  while (true) {
    const v1::WorkerCommand command = stream->Next();
    if (command.has_stop() || !command.has_abort_rank()) {
      EXPECT_EQ(command.stop().reason(), "marker") << command.DebugString();
      break;
    }
    aborted.emplace_back(command.abort_rank().job(), command.abort_rank().attempt() * 10 + command.abort_rank().rank());
    reasons.push_back(command.abort_rank().reason());
  }
  EXPECT_THAT(aborted,
              ElementsAre(Pair("jobs/ft-000002", 0), Pair(kJob, 1), Pair(kJob, 30), Pair("jobs/ft-000099", 0)));
  ASSERT_EQ(reasons.size(), 4u);
  EXPECT_THAT(reasons[0], HasSubstr("CANCELLED"));
  EXPECT_THAT(reasons[3], HasSubstr("no such job"));

  // Through a heartbeat: the worker lists a rank of the ended job and its current one.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::HeartbeatRequest beat;
  beat.set_worker(worker);
  *beat.add_ranks() = status_of(kJob, 0, 0);
  *beat.add_ranks() = status_of("jobs/ft-000002", 0, 1);
  v1::HeartbeatResponse response;
  ASSERT_TRUE(stub_->Heartbeat(&context, beat, &response).ok());
  QueueMarker(worker);
  const v1::WorkerCommand command = stream->Next();
  ASSERT_TRUE(command.has_abort_rank()) << command.DebugString();
  EXPECT_EQ(command.abort_rank().job(), "jobs/ft-000002");
  EXPECT_EQ(command.abort_rank().rank(), 1);
  EXPECT_TRUE(stream->Next().has_stop()) << "nothing for the current rank";
}

}  // namespace
}  // namespace ftd
