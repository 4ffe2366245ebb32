// RecordStateChange / UpdateJobAndPublish: the state, its event and the times move together.
#include "coordinator/service/job_updates.h"

#include <string>

#include "coordinator/jobs/job_lifecycle.h"
#include "google/protobuf/util/message_differencer.h"

namespace ftd {

google::protobuf::Timestamp ToProtoTime(absl::Time time) {
  google::protobuf::Timestamp proto;
  const int64_t seconds = absl::ToUnixSeconds(time);  // Rounds towards the past, so nanos stay >= 0.
  proto.set_seconds(seconds);
  proto.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  return proto;
}

void RecordStateChange(v1::Job& job, std::vector<v1::JobEvent>& events, v1::JobState to, absl::string_view reason,
                       absl::string_view message, absl::Time now) {
  v1::JobEvent& event = events.emplace_back();
  v1::StateChange& change = *event.mutable_state_change();
  change.set_from_state(job.state());
  change.set_to_state(to);
  change.set_reason(std::string(reason));
  change.set_message(std::string(message));
  job.set_state(to);
  if (to == v1::JOB_STATE_RUNNING && !job.has_start_time()) *job.mutable_start_time() = ToProtoTime(now);
  if (IsTerminal(to)) {
    *job.mutable_end_time() = ToProtoTime(now);
    job.clear_placement();
  }
}

absl::StatusOr<v1::Job> UpdateJobAndPublish(CoordinatorStore& store, JobEvents& events, absl::string_view job_id,
                                            absl::Time now, JobMutation mutate) {
  const google::protobuf::Timestamp stamp = ToProtoTime(now);
  absl::StatusOr<v1::Job> updated =
      store.UpdateJob(job_id, [&](v1::Job& job, std::vector<v1::JobEvent>& new_events) -> absl::Status {
        const v1::Job before = job;
        if (absl::Status status = mutate(job, new_events); !status.ok()) return status;
        for (v1::JobEvent& event : new_events) {
          if (!event.has_time()) *event.mutable_time() = stamp;
        }
        if (!new_events.empty() || !google::protobuf::util::MessageDifferencer::Equals(before, job)) {
          *job.mutable_update_time() = stamp;
        }
        return absl::OkStatus();
      });
  if (updated.ok()) events.Publish(job_id, updated->last_event_sequence());
  return updated;
}

}  // namespace ftd
