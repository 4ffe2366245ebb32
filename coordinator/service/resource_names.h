// Resource names of the JobService ("jobs/{job}") as the coordinator's services parse and report them.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ftd {

// The {job} of "jobs/{job}", where {job} matches [a-z][a-z0-9-]{0,62}. INVALID_ARGUMENT naming `field` otherwise.
absl::StatusOr<std::string> ParseJobName(absl::string_view name, absl::string_view field);

std::string JobName(absl::string_view job_id);

// A store's NOT_FOUND for the job becomes "job jobs/{job} not found"; any other status is returned unchanged.
absl::Status JobNotFoundAs(const absl::Status& status, absl::string_view job_name);

}  // namespace ftd
