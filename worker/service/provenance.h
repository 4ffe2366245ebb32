// provenance.json of a job's final result: what produced it (the job spec, the SHA-256 of each dataset file and of
// the base model's files, the seed, the ftd version), so an exported adapter can be traced and reproduced.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "ftd/v1/job_spec.pb.h"

namespace ftd {

// The JSON text. Files are hashed in full (a multi-GiB base model takes seconds per GiB). NOT_FOUND naming a
// missing file.
absl::StatusOr<std::string> BuildProvenanceJson(const std::string& job, int attempt,
                                                const ftd::v1::JobSpec& resolved_spec,
                                                const std::string& ftd_version);

}  // namespace ftd
