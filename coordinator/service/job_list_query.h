// ListJobs query parts shared by the coordinator's JobService and the test JobService (tests/proto): the
// AIP-160-style filter subset job_service.proto documents, the order_by values, and opaque page tokens bound to the
// query they were issued for.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ftd/v1/job.pb.h"

namespace ftd {

// A parsed ListJobsRequest.filter: `key=value` terms joined by " AND "; every present term must match.
struct JobFilter {
  std::optional<v1::JobState> state;     // `state=RUNNING`
  std::optional<std::string> base_model;  // `base_model=/models/llama`
  std::optional<std::string> spec_name;   // `spec.name=my-run`

  bool Matches(const v1::Job& job) const;
};

// INVALID_ARGUMENT names the bad term: unknown key, missing '=', unknown state.
absl::StatusOr<JobFilter> ParseJobFilter(absl::string_view filter);

enum class JobOrder { kNewestFirst, kOldestFirst };

// "" and "create_time desc" -> kNewestFirst; "create_time" -> kOldestFirst; anything else INVALID_ARGUMENT.
absl::StatusOr<JobOrder> ParseJobOrder(absl::string_view order_by);

// A token that resumes listing at `cursor`, the service's own position marker (a creation number, a job id, a
// store's page token): non-empty and without '|'. It embeds the filter and order_by so that a token replayed with
// a different query is rejected instead of silently skipping jobs.
std::string EncodePageToken(absl::string_view cursor, absl::string_view filter, absl::string_view order_by);

// Returns the cursor encoded by EncodePageToken. INVALID_ARGUMENT when the token is malformed or was issued for a
// different filter or order_by.
absl::StatusOr<std::string> DecodePageToken(absl::string_view token, absl::string_view filter,
                                            absl::string_view order_by);

}  // namespace ftd
