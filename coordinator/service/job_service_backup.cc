// CoordinatorJobService's BackupState: an admin's consistent copy of the store, taken while the coordinator serves
// (CoordinatorStore::Backup), into a new directory on the coordinator's host.
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/service/job_service.h"
#include "coordinator/service/to_grpc.h"

namespace ftd {
namespace {

// Bytes of the regular files under `dir`.
int64_t TreeBytes(const std::string& dir) {
  int64_t bytes = 0;
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_regular_file(error)) bytes += static_cast<int64_t>(it->file_size(error));
  }
  return bytes;
}

}  // namespace

grpc::Status CoordinatorJobService::BackupState(grpc::ServerContext* context, const v1::BackupStateRequest* request,
                                                v1::BackupStateResponse* response) {
  absl::StatusOr<CallerIdentity> caller = Caller(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (!caller->admin) {
    return ToGrpc(absl::PermissionDeniedError("BackupState copies every user's jobs: it needs an admin token"));
  }
  absl::StatusOr<v1::BackupStateResponse> backup = Backup(*request);
  if (backup.ok()) *response = *std::move(backup);
  return ToGrpc(backup.status());
}

absl::StatusOr<v1::BackupStateResponse> CoordinatorJobService::Backup(const v1::BackupStateRequest& request) {
  const std::filesystem::path directory(request.directory());
  if (request.directory().empty() || !directory.is_absolute()) {
    return absl::InvalidArgumentError(
        absl::StrCat("directory: an absolute path on the coordinator's host is required, got \"",
                     request.directory(), "\""));
  }
  std::error_code error;
  if (!std::filesystem::is_directory(directory.parent_path(), error)) {
    return absl::FailedPreconditionError(
        absl::StrCat("directory: its parent ", directory.parent_path().string(), " is not a directory"));
  }
  RETURN_IF_ERROR(store_.Backup(directory.string()));
  v1::BackupStateResponse response;
  response.set_directory(directory.string());
  response.set_bytes(TreeBytes(directory.string()));
  // The jobs now; the copy holds these, less any created in the moments since it was taken.
  JobQuery query;
  query.page_size = 1000;
  int64_t jobs = 0;
  do {
    ASSIGN_OR_RETURN(JobPage page, store_.ListJobs(query));
    jobs += static_cast<int64_t>(page.jobs.size());
    query.page_token = page.next_page_token;
  } while (!query.page_token.empty());
  response.set_jobs(jobs);
  return response;
}

}  // namespace ftd
