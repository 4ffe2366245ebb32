// CheckTransition / ClassifyRankError / DecideFailure: tables and a backoff, no I/O.
#include "coordinator/jobs/job_lifecycle.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ftd {

using ftd::v1::ErrorCode;
using ftd::v1::JobState;

bool IsTerminal(JobState state) {
  return state == ftd::v1::JOB_STATE_SUCCEEDED || state == ftd::v1::JOB_STATE_FAILED ||
         state == ftd::v1::JOB_STATE_CANCELLED || state == ftd::v1::JOB_STATE_EARLY_STOPPED;
}

absl::Status CheckTransition(JobState from, JobState to) {
  static const auto* const kAllowed = new std::set<std::pair<JobState, JobState>>{
      {ftd::v1::JOB_STATE_UNSPECIFIED, ftd::v1::JOB_STATE_QUEUED},
      {ftd::v1::JOB_STATE_QUEUED, ftd::v1::JOB_STATE_SCHEDULED},
      {ftd::v1::JOB_STATE_SCHEDULED, ftd::v1::JOB_STATE_RUNNING},
      {ftd::v1::JOB_STATE_RUNNING, ftd::v1::JOB_STATE_EVALUATING},
      {ftd::v1::JOB_STATE_EVALUATING, ftd::v1::JOB_STATE_SUCCEEDED},
      {ftd::v1::JOB_STATE_RUNNING, ftd::v1::JOB_STATE_EARLY_STOPPED},
      // A stand-alone evaluation has no training: its placed rank starts scoring at once.
      {ftd::v1::JOB_STATE_SCHEDULED, ftd::v1::JOB_STATE_EVALUATING},
      // An early-stopped job's result is scored before the job ends.
      {ftd::v1::JOB_STATE_EVALUATING, ftd::v1::JOB_STATE_EARLY_STOPPED},
      {ftd::v1::JOB_STATE_SCHEDULED, ftd::v1::JOB_STATE_RESTARTING},
      {ftd::v1::JOB_STATE_RUNNING, ftd::v1::JOB_STATE_RESTARTING},
      {ftd::v1::JOB_STATE_RESTARTING, ftd::v1::JOB_STATE_SCHEDULED},
      {ftd::v1::JOB_STATE_RESTARTING, ftd::v1::JOB_STATE_QUEUED},
  };
  const bool to_exit = to == ftd::v1::JOB_STATE_FAILED || to == ftd::v1::JOB_STATE_CANCELLED;
  if (!IsTerminal(from) && from != ftd::v1::JOB_STATE_UNSPECIFIED && to_exit) return absl::OkStatus();
  if (kAllowed->count({from, to}) > 0) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("a job cannot go from ", ftd::v1::JobState_Name(from), " to ",
                                                    ftd::v1::JobState_Name(to),
                                                    IsTerminal(from) ? " (it has ended)" : ""));
}

ErrorCode ClassifyRankError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
      return ftd::v1::ERROR_CODE_BAD_INPUT;
    case absl::StatusCode::kResourceExhausted:
      return ftd::v1::ERROR_CODE_OUT_OF_MEMORY;
    case absl::StatusCode::kFailedPrecondition:
      // The optimiser's "gradient norm is nan: the loss diverged".
      if (absl::StrContains(status.message(), "diverged")) return ftd::v1::ERROR_CODE_NAN_LOSS;
      return ftd::v1::ERROR_CODE_INTERNAL;
    case absl::StatusCode::kDataLoss:
      return ftd::v1::ERROR_CODE_CHECKPOINT_CORRUPT;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
      return ftd::v1::ERROR_CODE_RANK_LOST;
    default:
      return ftd::v1::ERROR_CODE_INTERNAL;
  }
}

FailureOutcome DecideFailure(const ftd::v1::Job& job, const ftd::v1::JobError& error, const RestartPolicy& policy) {
  FailureOutcome out;
  out.error = error;
  const int32_t max_restarts = job.resolved_spec().has_max_restarts() ? job.resolved_spec().max_restarts() : 3;
  out.event.set_from_state(job.state());
  if (error.code() == ftd::v1::ERROR_CODE_RANK_LOST && job.restart_count() < max_restarts) {
    out.next_state = ftd::v1::JOB_STATE_RESTARTING;
    out.error.set_retryable(true);
    absl::Duration backoff = policy.initial_backoff;
    for (int32_t i = 0; i < job.restart_count() && backoff < policy.max_backoff; ++i) backoff *= 2;
    out.backoff = std::min(backoff, policy.max_backoff);
    out.event.set_reason("RankLost");
    out.event.set_message(absl::StrCat("restart ", job.restart_count() + 1, " of ", max_restarts, " in ",
                                       absl::FormatDuration(out.backoff), ": ", error.message()));
  } else {
    out.next_state = ftd::v1::JOB_STATE_FAILED;
    out.error.set_retryable(false);
    if (error.code() == ftd::v1::ERROR_CODE_RANK_LOST) {
      out.error.set_code(ftd::v1::ERROR_CODE_RESTARTS_EXHAUSTED);
      out.error.set_message(absl::StrCat("lost a rank after ", job.restart_count(), " restarts (max_restarts ",
                                         max_restarts, "): ", error.message()));
    }
    out.event.set_reason("Failed");
    out.event.set_message(out.error.message());
  }
  out.event.set_to_state(out.next_state);
  *out.event.mutable_error() = out.error;
  return out;
}

}  // namespace ftd
