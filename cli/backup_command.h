// ftctl backup, flag-free: an admin's consistent copy of the coordinator's state (JobService.BackupState), written
// by the coordinator into a new directory on its own host. Built only with FTD_SERVICE=ON.
#pragma once

#include <iosfwd>
#include <string>

#include "absl/status/status.h"
#include "cli/job_client.h"
#include "cli/output_format.h"

namespace ftd {

// `directory` is a path on the coordinator's host (absolute, absent). Prints "backed up N jobs (B bytes) to DIR",
// or the BackupStateResponse as JSON. The server's errors (PERMISSION_DENIED for a non-admin token, ALREADY_EXISTS,
// INVALID_ARGUMENT) are returned as they are.
absl::Status StateBackup(JobClient& client, const std::string& directory, OutputFormat format, std::ostream& out);

}  // namespace ftd
