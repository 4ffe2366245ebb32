// Helpers shared by the coordinator's JobService tests: the tiny model fixture as base_model, and the scheduler's and
// workers' parts played through the store and the JobEvents hub, as those services will write.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "coordinator/jobs/job_lifecycle.h"
#include "coordinator/service/job_events.h"
#include "coordinator/service/job_updates.h"
#include "coordinator/store/coordinator_store.h"

namespace ftd {

// A Llama config.json the placement check can read (tests/fixtures/model_io).
inline const std::string kTinyLlama = absl::StrCat(FTD_SOURCE_DIR, "/tests/fixtures/model_io/tiny_llama");

inline absl::StatusOr<std::string> IdOf(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "jobs/")) return absl::InvalidArgumentError(absl::StrCat("not a job: ", name));
  return std::string(name);
}

// The scheduler's part in a test: a state change written through the store and published to the hub, unjudged.
inline absl::StatusOr<v1::Job> SetState(CoordinatorStore& store, JobEvents& events, absl::string_view name,
                                        v1::JobState state, absl::string_view reason, absl::Time now) {
  absl::StatusOr<std::string> id = IdOf(name);
  if (!id.ok()) return id.status();
  return UpdateJobAndPublish(store, events, *id, now, [&](v1::Job& job, std::vector<v1::JobEvent>& new_events) {
    if (IsTerminal(job.state())) return absl::FailedPreconditionError(absl::StrCat(name, " has ended"));
    RecordStateChange(job, new_events, state, reason, "", now);
    return absl::OkStatus();
  });
}

// A worker's part: a non-state event through the store and the hub.
inline absl::StatusOr<v1::Job> Append(CoordinatorStore& store, JobEvents& events, absl::string_view name,
                                      v1::JobEvent event, absl::Time now) {
  if (event.has_state_change()) return absl::InvalidArgumentError("state changes go through SetState");
  absl::StatusOr<std::string> id = IdOf(name);
  if (!id.ok()) return id.status();
  return UpdateJobAndPublish(store, events, *id, now, [&](v1::Job& job, std::vector<v1::JobEvent>& new_events) {
    if (IsTerminal(job.state())) return absl::FailedPreconditionError(absl::StrCat(name, " has ended"));
    new_events.push_back(std::move(event));
    return absl::OkStatus();
  });
}

}  // namespace ftd
