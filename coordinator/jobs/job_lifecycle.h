// The job state machine of DESIGN.md "Job lifecycle": which transitions are legal, what a failed attempt turns into
// (RESTARTING with backoff while restarts remain and the failure is retryable, FAILED at once otherwise), and how a
// rank's error status is classified. Pure logic over the ftd.v1 protos: the coordinator's services apply it and
// write the resulting state and its StateChange event in one store batch.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "ftd/v1/job.pb.h"
#include "ftd/v1/job_event.pb.h"

namespace ftd {

bool IsTerminal(ftd::v1::JobState state);

// OK when `from` -> `to` is a transition of the lifecycle: QUEUED -> SCHEDULED -> RUNNING -> EVALUATING ->
// SUCCEEDED; SCHEDULED/RUNNING -> RESTARTING -> SCHEDULED (or QUEUED when no slots are free); RUNNING ->
// EARLY_STOPPED (no benchmarks) or RUNNING -> EVALUATING -> EARLY_STOPPED (the stopped run's result, the best
// checkpoint's weights, is scored first); SCHEDULED -> EVALUATING for a stand-alone evaluation (nothing to train);
// any non-terminal state -> FAILED or CANCELLED. FAILED_PRECONDITION naming both states otherwise (a terminal job never
// moves again).
absl::Status CheckTransition(ftd::v1::JobState from, ftd::v1::JobState to);

// Maps the status a rank (or the worker running it) reported to the job's error code: INVALID_ARGUMENT and
// NOT_FOUND -> BAD_INPUT (a dataset or model file: deterministic), RESOURCE_EXHAUSTED -> OUT_OF_MEMORY,
// FAILED_PRECONDITION mentioning a diverged loss / non-finite gradient norm -> NAN_LOSS, DATA_LOSS ->
// CHECKPOINT_CORRUPT, UNAVAILABLE / DEADLINE_EXCEEDED / ABORTED / CANCELLED -> RANK_LOST (a peer, a worker or the
// network went away: retryable), anything else -> INTERNAL.
ftd::v1::ErrorCode ClassifyRankError(const absl::Status& status);

struct RestartPolicy {
  absl::Duration initial_backoff = absl::Seconds(5);
  absl::Duration max_backoff = absl::Minutes(5);
};

// What a failed attempt of `job` becomes.
struct FailureOutcome {
  ftd::v1::JobState next_state = ftd::v1::JOB_STATE_FAILED;
  ftd::v1::JobError error;         // code, message, retryable set; rank/step/time copied from the input.
  absl::Duration backoff;          // Before the job is placed again (RESTARTING only): initial x 2^restarts, capped.
  ftd::v1::StateChange event;      // The StateChange to record with the transition.
};

// RANK_LOST with restart_count < resolved_spec.max_restarts -> RESTARTING (retryable, "RankLost");
// RANK_LOST with no restarts left -> FAILED with RESTARTS_EXHAUSTED; every other code -> FAILED at once
// (deterministic: bad input, NaN loss, out of memory are not retried).
FailureOutcome DecideFailure(const ftd::v1::Job& job, const ftd::v1::JobError& error, const RestartPolicy& policy);

}  // namespace ftd
