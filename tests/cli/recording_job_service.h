// RecordingJobService: the in-memory JobService behind a thin test wrapper that records what ftctl sends (the
// authorization metadata of each call, which RPCs it made), can demand a token, and serves the two read RPCs the
// in-memory service leaves UNIMPLEMENTED (GetJobLogs, ListCheckpoints) from lines and checkpoints the test adds.
// Tests only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "ftd/v1/job_service.grpc.pb.h"
#include "tests/proto/in_memory_job_service.h"

namespace ftd {

// Thread-safe: handlers run on gRPC's threads while the test adds data. Every RPC but the two above is handed to
// `inner` unchanged (not owned; must outlive this).
class RecordingJobService final : public v1::JobService::Service {
 public:
  explicit RecordingJobService(InMemoryJobService& inner) : inner_(inner) {}

  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                         v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override;
  // Pages of `logs_page_size` lines; the token is the index of the next line.
  grpc::Status GetJobLogs(grpc::ServerContext* context, const v1::GetJobLogsRequest* request,
                          v1::GetJobLogsResponse* response) override;
  // One page with every checkpoint added for the job.
  grpc::Status ListCheckpoints(grpc::ServerContext* context, const v1::ListCheckpointsRequest* request,
                               v1::ListCheckpointsResponse* response) override;

  // Stores a line for GetJobLogs and appends it to the job's events (for `logs -f`).
  absl::Status AddLog(const std::string& job, const v1::LogLine& line);
  void AddCheckpoint(const std::string& job, const v1::Checkpoint& checkpoint);
  // Every later SubmitJob fails with this status, as a server with stricter checks than ftctl's would.
  void RejectSubmits(absl::Status status);
  // Every later call without `authorization: Bearer <token>` fails with UNAUTHENTICATED, as an ftd with auth on.
  void RequireToken(const std::string& token);
  void set_logs_page_size(int size);

  // "METHOD authorization-value" per call in arrival order; the value is "<none>" when the call had none.
  std::vector<std::string> calls() const;
  // Blocks until `count` WatchJob calls have arrived (so a test appends events only once a watch is open).
  void AwaitWatchCalls(int count) const;

 private:
  // Records the call; UNAUTHENTICATED when a token is required and the call lacks it.
  grpc::Status Admit(const grpc::ServerContext& context, const std::string& method);

  InMemoryJobService& inner_;
  mutable absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  int watch_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::vector<v1::LogLine>> logs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<v1::Checkpoint>> checkpoints_ ABSL_GUARDED_BY(mu_);
  absl::Status reject_submits_ ABSL_GUARDED_BY(mu_);
  std::string required_authorization_ ABSL_GUARDED_BY(mu_);  // Empty: none required.
  int logs_page_size_ ABSL_GUARDED_BY(mu_) = 1000;
};

}  // namespace ftd
