// The job state machine: every lifecycle edge is allowed and nothing else; terminal states never move; rank errors
// are classified by what the coordinator should do; a lost rank restarts with a doubling backoff until max_restarts,
// deterministic failures fail at once.
#include "coordinator/jobs/job_lifecycle.h"

#include <vector>

#include "gtest/gtest.h"

namespace ftd {
namespace {

using ftd::v1::JobState;

TEST(JobLifecycleTest, OnlyTheLifecycleEdgesAreAllowed) {
  const std::vector<std::pair<JobState, JobState>> allowed = {
      {ftd::v1::JOB_STATE_UNSPECIFIED, ftd::v1::JOB_STATE_QUEUED},
      {ftd::v1::JOB_STATE_QUEUED, ftd::v1::JOB_STATE_SCHEDULED},
      {ftd::v1::JOB_STATE_SCHEDULED, ftd::v1::JOB_STATE_RUNNING},
      {ftd::v1::JOB_STATE_RUNNING, ftd::v1::JOB_STATE_EVALUATING},
      {ftd::v1::JOB_STATE_EVALUATING, ftd::v1::JOB_STATE_SUCCEEDED},
      {ftd::v1::JOB_STATE_RUNNING, ftd::v1::JOB_STATE_EARLY_STOPPED},
      {ftd::v1::JOB_STATE_EVALUATING, ftd::v1::JOB_STATE_EARLY_STOPPED},
      {ftd::v1::JOB_STATE_SCHEDULED, ftd::v1::JOB_STATE_EVALUATING},
      {ftd::v1::JOB_STATE_RUNNING, ftd::v1::JOB_STATE_RESTARTING},
      {ftd::v1::JOB_STATE_RESTARTING, ftd::v1::JOB_STATE_SCHEDULED},
      {ftd::v1::JOB_STATE_QUEUED, ftd::v1::JOB_STATE_CANCELLED},
      {ftd::v1::JOB_STATE_EVALUATING, ftd::v1::JOB_STATE_FAILED},
      {ftd::v1::JOB_STATE_RESTARTING, ftd::v1::JOB_STATE_FAILED},
  };
  for (const auto& [from, to] : allowed) {
    EXPECT_TRUE(CheckTransition(from, to).ok()) << JobState_Name(from) << " -> " << JobState_Name(to);
  }
  const std::vector<std::pair<JobState, JobState>> refused = {
      {ftd::v1::JOB_STATE_QUEUED, ftd::v1::JOB_STATE_RUNNING},
      {ftd::v1::JOB_STATE_RUNNING, ftd::v1::JOB_STATE_SUCCEEDED},
      {ftd::v1::JOB_STATE_EVALUATING, ftd::v1::JOB_STATE_RESTARTING},
      {ftd::v1::JOB_STATE_SUCCEEDED, ftd::v1::JOB_STATE_FAILED},
      {ftd::v1::JOB_STATE_CANCELLED, ftd::v1::JOB_STATE_QUEUED},
      {ftd::v1::JOB_STATE_EARLY_STOPPED, ftd::v1::JOB_STATE_RUNNING},
      {ftd::v1::JOB_STATE_EARLY_STOPPED, ftd::v1::JOB_STATE_EVALUATING},
      {ftd::v1::JOB_STATE_QUEUED, ftd::v1::JOB_STATE_EVALUATING},
      {ftd::v1::JOB_STATE_UNSPECIFIED, ftd::v1::JOB_STATE_FAILED},
  };
  for (const auto& [from, to] : refused) {
    const absl::Status status = CheckTransition(from, to);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << JobState_Name(from) << " -> " << JobState_Name(to);
  }
  EXPECT_EQ(CheckTransition(ftd::v1::JOB_STATE_SUCCEEDED, ftd::v1::JOB_STATE_FAILED).message(),
            "a job cannot go from JOB_STATE_SUCCEEDED to JOB_STATE_FAILED (it has ended)");
}

TEST(JobLifecycleTest, RankErrorsAreClassifiedByWhatToDoNext) {
  EXPECT_EQ(ClassifyRankError(absl::InvalidArgumentError("data.jsonl:3: not valid JSON")), ftd::v1::ERROR_CODE_BAD_INPUT);
  EXPECT_EQ(ClassifyRankError(absl::NotFoundError("base_model: no config.json")), ftd::v1::ERROR_CODE_BAD_INPUT);
  EXPECT_EQ(ClassifyRankError(absl::ResourceExhaustedError("out of memory")), ftd::v1::ERROR_CODE_OUT_OF_MEMORY);
  EXPECT_EQ(ClassifyRankError(absl::FailedPreconditionError("step 7 (loss nan): gradient norm is nan: the loss diverged")),
            ftd::v1::ERROR_CODE_NAN_LOSS);
  EXPECT_EQ(ClassifyRankError(absl::DataLossError("chunk 3 CRC mismatch")), ftd::v1::ERROR_CODE_CHECKPOINT_CORRUPT);
  EXPECT_EQ(ClassifyRankError(absl::UnavailableError("Connection closed by peer")), ftd::v1::ERROR_CODE_RANK_LOST);
  EXPECT_EQ(ClassifyRankError(absl::DeadlineExceededError("all-reduce timed out")), ftd::v1::ERROR_CODE_RANK_LOST);
  EXPECT_EQ(ClassifyRankError(absl::InternalError("bug")), ftd::v1::ERROR_CODE_INTERNAL);
}

TEST(JobLifecycleTest, LostRanksRestartWithBackoffUntilMaxRestarts) {
  ftd::v1::Job job;
  job.set_state(ftd::v1::JOB_STATE_RUNNING);
  job.mutable_resolved_spec()->set_max_restarts(2);
  ftd::v1::JobError lost;
  lost.set_code(ftd::v1::ERROR_CODE_RANK_LOST);
  lost.set_message("rank 1 (workers/w-2) missed 3 heartbeats");
  lost.set_rank(1);

  FailureOutcome first = DecideFailure(job, lost, RestartPolicy{});
  EXPECT_EQ(first.next_state, ftd::v1::JOB_STATE_RESTARTING);
  EXPECT_TRUE(first.error.retryable());
  EXPECT_EQ(first.backoff, absl::Seconds(5));
  EXPECT_EQ(first.event.reason(), "RankLost");
  EXPECT_EQ(first.event.from_state(), ftd::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(first.event.to_state(), ftd::v1::JOB_STATE_RESTARTING);
  EXPECT_EQ(first.event.error().rank(), 1);

  job.set_restart_count(1);
  EXPECT_EQ(DecideFailure(job, lost, RestartPolicy{}).backoff, absl::Seconds(10));
  EXPECT_EQ(DecideFailure(job, lost, RestartPolicy{absl::Seconds(5), absl::Seconds(8)}).backoff, absl::Seconds(8));

  job.set_restart_count(2);
  FailureOutcome exhausted = DecideFailure(job, lost, RestartPolicy{});
  EXPECT_EQ(exhausted.next_state, ftd::v1::JOB_STATE_FAILED);
  EXPECT_EQ(exhausted.error.code(), ftd::v1::ERROR_CODE_RESTARTS_EXHAUSTED);
  EXPECT_FALSE(exhausted.error.retryable());
  EXPECT_EQ(exhausted.error.message(),
            "lost a rank after 2 restarts (max_restarts 2): rank 1 (workers/w-2) missed 3 heartbeats");

  // Deterministic failures are never retried, restarts left or not.
  job.set_restart_count(0);
  ftd::v1::JobError nan;
  nan.set_code(ftd::v1::ERROR_CODE_NAN_LOSS);
  nan.set_message("step 7: the loss diverged");
  FailureOutcome failed = DecideFailure(job, nan, RestartPolicy{});
  EXPECT_EQ(failed.next_state, ftd::v1::JOB_STATE_FAILED);
  EXPECT_EQ(failed.error.code(), ftd::v1::ERROR_CODE_NAN_LOSS);
  EXPECT_EQ(failed.event.reason(), "Failed");
}

}  // namespace
}  // namespace ftd
