// JobClient: ftctl's connection to the ftd coordinator's JobService: the channel, the bearer token, the per-call
// deadline, and the one place a grpc::Status becomes an absl::Status with a message a user can act on.
// Only job_client.cc includes gRPC headers; callers see protos and absl::Status.
#pragma once

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ftd/v1/job_service.pb.h"

namespace ftd {

struct ConnectionOptions {
  // "host:port" of the ftd server (any gRPC target string works, e.g. "dns:///ftd.example:7070").
  std::string server;
  // Bearer token sent as `authorization: Bearer <token>` on every call; empty sends no authorization header.
  std::string token;
  // PEM CA bundle of the server's certificate: non-empty connects with TLS.
  std::string tls_ca;
  // Deadline of each unary call. Streams (WatchJob) have none: they last as long as the job.
  absl::Duration timeout = absl::Seconds(30);
};

// One channel to one server. Construction connects lazily, so Create succeeds for an unreachable server; the
// first call reports it ("cannot reach the ftd server at ADDR: ..."). Thread-safe, as gRPC stubs are.
//
// Errors are the server's status with its message verbatim (INVALID_ARGUMENT "spec.lora_r: must be > 0, got -1",
// NOT_FOUND "job jobs/ft-000009 not found", ...), except for the codes that concern the connection rather than
// the request, which name the server and say what to do: UNAVAILABLE, DEADLINE_EXCEEDED, UNAUTHENTICATED,
// PERMISSION_DENIED, UNIMPLEMENTED. The code is kept either way.
class JobClient {
 public:
  // INVALID_ARGUMENT for an empty server address or a non-positive timeout.
  static absl::StatusOr<std::unique_ptr<JobClient>> Create(ConnectionOptions options);
  ~JobClient();
  JobClient(const JobClient&) = delete;
  JobClient& operator=(const JobClient&) = delete;

  const ConnectionOptions& options() const { return options_; }

  absl::StatusOr<v1::Job> SubmitJob(const v1::SubmitJobRequest& request);
  absl::StatusOr<v1::Job> GetJob(const v1::GetJobRequest& request);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request);
  absl::StatusOr<v1::Job> CancelJob(const v1::CancelJobRequest& request);
  absl::StatusOr<v1::GetJobLogsResponse> GetJobLogs(const v1::GetJobLogsRequest& request);
  absl::StatusOr<v1::ListCheckpointsResponse> ListCheckpoints(const v1::ListCheckpointsRequest& request);
  absl::StatusOr<v1::ListWorkersResponse> ListWorkers(const v1::ListWorkersRequest& request);
  absl::StatusOr<v1::BackupStateResponse> BackupState(const v1::BackupStateRequest& request);
  // NOT_FOUND ("job jobs/X has no transfer report yet (state S)") until the job's evaluation has stored one.
  absl::StatusOr<v1::TransferReport> GetTransferReport(const v1::GetTransferReportRequest& request);
  absl::StatusOr<v1::Evaluation> RunEvaluation(const v1::RunEvaluationRequest& request);
  absl::StatusOr<v1::Evaluation> GetEvaluation(const v1::GetEvaluationRequest& request);

  // Reads the WatchJob stream, handing each event to `on_event`, until the server ends it (OK after the event
  // that made the job terminal) or `on_event` returns an error, which cancels the stream and is returned.
  absl::Status WatchJob(const v1::WatchJobRequest& request,
                        absl::FunctionRef<absl::Status(const v1::JobEvent&)> on_event);

  // Reads the DownloadArtifact stream (the manifest, then chunks), handing each message to `on_message`, until the
  // server ends it or `on_message` returns an error, which cancels the stream and is returned. No deadline: a
  // large model takes as long as it takes.
  absl::Status DownloadArtifact(const v1::DownloadArtifactRequest& request,
                                absl::FunctionRef<absl::Status(const v1::DownloadArtifactResponse&)> on_message);

 private:
  struct Stub;
  JobClient(ConnectionOptions options, std::unique_ptr<Stub> stub);

  const ConnectionOptions options_;
  std::unique_ptr<Stub> stub_;
};

}  // namespace ftd
