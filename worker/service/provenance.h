// provenance.json of a job's final result (written here, its spec read back by whoever scores the result): what
// produced it (the job spec, the SHA-256 of each dataset file and of
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

// The job spec a provenance.json text records (its "spec"). INVALID_ARGUMENT naming `file_name` when the text is not
// JSON, has no "spec" object, or the spec does not parse as a JobSpec.
absl::StatusOr<ftd::v1::JobSpec> ParseProvenanceSpec(const std::string& text, const std::string& file_name);

}  // namespace ftd
