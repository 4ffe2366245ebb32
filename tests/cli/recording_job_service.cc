// RecordingJobService: record, then delegate to the in-memory service or serve the test's logs and checkpoints.
#include "tests/cli/recording_job_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "coordinator/service/to_grpc.h"

namespace ftd {

grpc::Status RecordingJobService::Admit(const grpc::ServerContext& context, const std::string& method) {
  std::string authorization = "<none>";
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization.assign(it->second.data(), it->second.size());
  }
  absl::MutexLock lock(&mu_);
  calls_.push_back(absl::StrCat(method, " ", authorization));
  if (method == "WatchJob") ++watch_calls_;
  if (!required_authorization_.empty() && authorization != required_authorization_) {
    return ToGrpc(absl::UnauthenticatedError("missing or invalid bearer token"));
  }
  return grpc::Status::OK;
}

grpc::Status RecordingJobService::SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                                            v1::Job* response) {
  if (grpc::Status admitted = Admit(*context, "SubmitJob"); !admitted.ok()) return admitted;
  {
    absl::MutexLock lock(&mu_);
    if (!reject_submits_.ok()) return ToGrpc(reject_submits_);
  }
  return inner_.SubmitJob(context, request, response);
}

grpc::Status RecordingJobService::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                                         v1::Job* response) {
  if (grpc::Status admitted = Admit(*context, "GetJob"); !admitted.ok()) return admitted;
  return inner_.GetJob(context, request, response);
}

grpc::Status RecordingJobService::ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                                           v1::ListJobsResponse* response) {
  if (grpc::Status admitted = Admit(*context, "ListJobs"); !admitted.ok()) return admitted;
  return inner_.ListJobs(context, request, response);
}

grpc::Status RecordingJobService::CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                                            v1::Job* response) {
  if (grpc::Status admitted = Admit(*context, "CancelJob"); !admitted.ok()) return admitted;
  return inner_.CancelJob(context, request, response);
}

grpc::Status RecordingJobService::WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                                           grpc::ServerWriter<v1::JobEvent>* writer) {
  if (grpc::Status admitted = Admit(*context, "WatchJob"); !admitted.ok()) return admitted;
  return inner_.WatchJob(context, request, writer);
}

grpc::Status RecordingJobService::GetJobLogs(grpc::ServerContext* context, const v1::GetJobLogsRequest* request,
                                             v1::GetJobLogsResponse* response) {
  if (grpc::Status admitted = Admit(*context, "GetJobLogs"); !admitted.ok()) return admitted;
  absl::MutexLock lock(&mu_);
  auto it = logs_.find(request->name());
  if (it == logs_.end()) return ToGrpc(absl::NotFoundError(absl::StrCat("job ", request->name(), " not found")));
  size_t begin = 0;
  if (!request->page_token().empty() && !absl::SimpleAtoi(request->page_token(), &begin)) {
    return ToGrpc(absl::InvalidArgumentError("page_token is malformed"));
  }
  const std::vector<v1::LogLine>& lines = it->second;
  size_t i = begin;
  for (; i < lines.size() && response->lines_size() < logs_page_size_; ++i) {
    const v1::LogLine& line = lines[i];
    if (request->has_rank() && (!line.has_rank() || line.rank() != request->rank())) continue;
    if (line.level() < request->min_level()) continue;
    *response->add_lines() = line;
  }
  if (i < lines.size()) response->set_next_page_token(absl::StrCat(i));
  return grpc::Status::OK;
}

grpc::Status RecordingJobService::ListCheckpoints(grpc::ServerContext* context,
                                                  const v1::ListCheckpointsRequest* request,
                                                  v1::ListCheckpointsResponse* response) {
  if (grpc::Status admitted = Admit(*context, "ListCheckpoints"); !admitted.ok()) return admitted;
  absl::MutexLock lock(&mu_);
  for (const v1::Checkpoint& checkpoint : checkpoints_[request->parent()]) *response->add_checkpoints() = checkpoint;
  return grpc::Status::OK;
}

absl::Status RecordingJobService::AddLog(const std::string& job, const v1::LogLine& line) {
  {
    absl::MutexLock lock(&mu_);
    logs_[job].push_back(line);
  }
  v1::JobEvent event;
  *event.mutable_log() = line;
  return inner_.AppendEvent(job, std::move(event)).status();
}

void RecordingJobService::AddCheckpoint(const std::string& job, const v1::Checkpoint& checkpoint) {
  absl::MutexLock lock(&mu_);
  checkpoints_[job].push_back(checkpoint);
}

void RecordingJobService::RejectSubmits(absl::Status status) {
  absl::MutexLock lock(&mu_);
  reject_submits_ = std::move(status);
}

void RecordingJobService::RequireToken(const std::string& token) {
  absl::MutexLock lock(&mu_);
  required_authorization_ = absl::StrCat("Bearer ", token);
}

void RecordingJobService::set_logs_page_size(int size) {
  absl::MutexLock lock(&mu_);
  logs_page_size_ = size;
}

std::vector<std::string> RecordingJobService::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

void RecordingJobService::AwaitWatchCalls(int count) const {
  absl::MutexLock lock(&mu_);
  auto arrived = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return watch_calls_ >= count; };
  mu_.Await(absl::Condition(&arrived));
}

}  // namespace ftd
