// ftctl backup over JobClient::BackupState.
#include "cli/backup_command.h"

#include <ostream>

#include "cli/job_format.h"
#include "common/status_macros.h"

namespace ftd {

absl::Status StateBackup(JobClient& client, const std::string& directory, OutputFormat format, std::ostream& out) {
  v1::BackupStateRequest request;
  request.set_directory(directory);
  ASSIGN_OR_RETURN(const v1::BackupStateResponse response, client.BackupState(request));
  if (format == OutputFormat::kJson) {
    ASSIGN_OR_RETURN(const std::string json, ToJson(response, JsonLayout::kIndented));
    out << json << '\n';
    return absl::OkStatus();
  }
  out << "backed up " << response.jobs() << " jobs (" << response.bytes() << " bytes) to " << response.directory()
      << " on the coordinator's host\n";
  return absl::OkStatus();
}

}  // namespace ftd
