// CoordinatorJobService's DownloadArtifact (the stream over artifact_export.h's StreamArtifact) and ListWorkers (the
// live workers the daemon hands in through JobServiceOptions::list_workers).
#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/service/artifact_export.h"
#include "coordinator/service/job_service.h"
#include "coordinator/service/resource_names.h"
#include "coordinator/service/to_grpc.h"

namespace ftd {

grpc::Status CoordinatorJobService::DownloadArtifact(grpc::ServerContext* context,
                                                     const v1::DownloadArtifactRequest* request,
                                                     grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) {
  const std::string job = request->source().substr(0, request->source().find("/checkpoints/"));
  if (absl::Status visible = Authorize(*context, job); !visible.ok()) return ToGrpc(visible);
  return ToGrpc(Download(*request, *writer));
}

grpc::Status CoordinatorJobService::ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                                                v1::ListWorkersResponse* response) {
  absl::StatusOr<v1::ListWorkersResponse> workers = Workers();
  if (workers.ok()) *response = *std::move(workers);
  return ToGrpc(workers.status());
}

absl::Status CoordinatorJobService::Download(const v1::DownloadArtifactRequest& request,
                                             grpc::ServerWriter<v1::DownloadArtifactResponse>& writer) {
  ASSIGN_OR_RETURN(const ArtifactSource source, ParseArtifactSource(request.source()));
  const std::string job_name = JobName(source.job_id);
  absl::StatusOr<v1::Job> job = store_.GetJob(source.job_id);
  if (!job.ok()) return JobNotFoundAs(job.status(), job_name);
  std::string scratch_dir = options_.scratch_dir;
  if (scratch_dir.empty()) {
    std::error_code error;
    scratch_dir = std::filesystem::temp_directory_path(error).string();
    if (error) return absl::InternalError(absl::StrCat("no temp directory for the export: ", error.message()));
  }
  return StreamArtifact(store_, *job, request, scratch_dir, [&writer](const v1::DownloadArtifactResponse& response) {
    return writer.Write(response);
  });
}

absl::StatusOr<v1::ListWorkersResponse> CoordinatorJobService::Workers() {
  v1::ListWorkersResponse response;
  if (!options_.list_workers) return response;
  ASSIGN_OR_RETURN(std::vector<v1::WorkerInfo> workers, options_.list_workers());
  std::sort(workers.begin(), workers.end(),
            [](const v1::WorkerInfo& a, const v1::WorkerInfo& b) { return a.name() < b.name(); });
  for (v1::WorkerInfo& worker : workers) *response.add_workers() = std::move(worker);
  return response;
}

}  // namespace ftd
