// How the coordinator's services change a stored job: record a state change on the Job and its StateChange event
// together, write both through CoordinatorStore::UpdateJob (one synced batch), stamp the times, then publish to the
// JobEvents hub. The JobService uses these now; the scheduler and the worker service will use the same ones.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "coordinator/service/job_events.h"
#include "coordinator/store/coordinator_store.h"
#include "ftd/v1/job.pb.h"
#include "ftd/v1/job_event.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace ftd {

google::protobuf::Timestamp ToProtoTime(absl::Time time);

// Moves `job` to `to` and appends the StateChange that records it (from the job's current state), setting
// start_time on the first RUNNING and end_time (and clearing the placement) on a terminal state. It does not judge
// the transition: callers check it with CheckTransition (coordinator/jobs) first. Event times are left to
// UpdateJobAndPublish.
void RecordStateChange(ftd::v1::Job& job, std::vector<ftd::v1::JobEvent>& events, ftd::v1::JobState to,
                       absl::string_view reason, absl::string_view message, absl::Time now);

// CoordinatorStore::UpdateJob with `mutate`, plus what every service writer must do around it: the new events get
// `now` as their time (unless set), the job's update_time becomes `now` when anything changed, and after the write
// the job's new last_event_sequence is published to `events`. Returns the job as stored; errors are UpdateJob's.
absl::StatusOr<ftd::v1::Job> UpdateJobAndPublish(CoordinatorStore& store, JobEvents& events, absl::string_view job_id,
                                                 absl::Time now, JobMutation mutate);

}  // namespace ftd
