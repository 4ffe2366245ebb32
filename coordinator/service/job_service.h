// CoordinatorJobService: the coordinator's ftd.v1 JobService over the RocksDB CoordinatorStore. It validates and
// stores jobs, answers reads from the store, cancels through the job lifecycle, and streams a job's events to
// watchers as the JobEvents hub signals new ones. The API contract is job_service.proto; the same round trips run
// against it and the test JobService (tests/proto/job_service_contract.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/service/auth.h"
#include "coordinator/service/job_events.h"
#include "coordinator/service/path_roots.h"
#include "coordinator/store/coordinator_store.h"
#include "ftd/v1/job_service.grpc.pb.h"

namespace ftd {

class JobMetrics;

struct JobServiceOptions {
  // How often a blocked WatchJob checks whether its client went away: the synchronous gRPC API has no
  // cancellation callback, so a waiting handler must look. New events and JobEvents::Shutdown wake it at once.
  absl::Duration watch_cancel_check_interval = absl::Milliseconds(100);
  // The workers holding a lease, for ListWorkers (the daemon wires it to ListWorkerInfos over the worker service's
  // leases, coordinator/service/worker_listing.h). Null: ListWorkers answers an empty list.
  std::function<absl::StatusOr<std::vector<v1::WorkerInfo>>()> list_workers;
  // Where DownloadArtifact builds merged models (a temp directory per download, removed after it). Empty: the
  // system temp directory (std::filesystem::temp_directory_path()).
  std::string scratch_dir;
  // Where a job spec's files may be (path_roots.h); default: anywhere. Checked at submit, before the placement
  // check reads base_model's config.json.
  PathRoots path_roots;
  // The bearer tokens the server checks (auth.h); null: authentication off, every caller an admin "anonymous".
  // Callers who are not admins see and touch only their own jobs: another user's job is NOT_FOUND, as if absent.
  std::shared_ptr<const TokenTable> tokens;
  // Called with the job as it was just before CancelJob moved it to CANCELLED (its placement intact), so the
  // daemon can abort its ranks at once. May be null.
  std::function<void(const v1::Job& before)> on_cancelled;
  // Called after a job is stored (the daemon wakes the scheduler). May be null.
  std::function<void()> on_submitted;
  // Counts accepted submissions and cancellations; may be null. Must outlive the service.
  JobMetrics* metrics = nullptr;
};

// Implements SubmitJob, GetJob, ListJobs, CancelJob, WatchJob, GetJobLogs, ListCheckpoints, GetTransferReport (the
// stored report; NOT_FOUND naming the job's state until its evaluation stores one), DownloadArtifact
// (artifact_export.h), ListWorkers, and RunEvaluation / GetEvaluation: a stand-alone evaluation is stored and run as a
// job that trains nothing (evaluation_jobs.h), "evaluations/{id}" being the view of "jobs/{id}".
//
// State: everything lives in the store, so a coordinator restarted on the same store serves the same jobs, ids and
// request_ids. In memory only: the next job number and the request_id index, both rebuilt by Create from the store.
//
// Jobs are named "jobs/ft-NNNNNN" from a counter above every stored id (ids are never reused: the store never
// deletes a job). A submit reads base_model's config.json (on the coordinator's filesystem), estimates a rank's
// memory and, when workers are registered, refuses a job none of them could ever hold (FAILED_PRECONDITION with the
// estimate); the Submitted event's message carries the estimate.
//
// Threading: handlers run on gRPC's threads. Submits are serialised by one mutex (the request_id check and the
// write must be atomic); everything else relies on the store's own atomicity (UpdateJob is a compare-and-set).
// Lifecycle: Create, register with a grpc::Server, call events.Shutdown() before grpc::Server::Shutdown() so that
// blocked WatchJob calls return, destroy after the server. The store and the hub must outlive the service.
class CoordinatorJobService final : public v1::JobService::Service {
 public:
  // Scans the store once for the highest job number and the request_ids in use. Store errors are returned.
  static absl::StatusOr<std::unique_ptr<CoordinatorJobService>> Create(CoordinatorStore& store, JobEvents& events,
                                                                      std::function<absl::Time()> clock,
                                                                      JobServiceOptions options = {});

  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                         v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override;
  grpc::Status GetJobLogs(grpc::ServerContext* context, const v1::GetJobLogsRequest* request,
                          v1::GetJobLogsResponse* response) override;
  grpc::Status ListCheckpoints(grpc::ServerContext* context, const v1::ListCheckpointsRequest* request,
                               v1::ListCheckpointsResponse* response) override;
  grpc::Status GetTransferReport(grpc::ServerContext* context, const v1::GetTransferReportRequest* request,
                                 v1::TransferReport* response) override;
  grpc::Status DownloadArtifact(grpc::ServerContext* context, const v1::DownloadArtifactRequest* request,
                                grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) override;
  grpc::Status RunEvaluation(grpc::ServerContext* context, const v1::RunEvaluationRequest* request,
                             v1::Evaluation* response) override;
  grpc::Status GetEvaluation(grpc::ServerContext* context, const v1::GetEvaluationRequest* request,
                             v1::Evaluation* response) override;
  grpc::Status ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest* request,
                           v1::ListWorkersResponse* response) override;
  grpc::Status BackupState(grpc::ServerContext* context, const v1::BackupStateRequest* request,
                           v1::BackupStateResponse* response) override;

 private:
  CoordinatorJobService(CoordinatorStore& store, JobEvents& events, std::function<absl::Time()> clock,
                        JobServiceOptions options)
      : store_(store), events_(events), clock_(std::move(clock)), options_(options) {}

  // The RPCs' logic; the gRPC overrides only convert through ToGrpc.
  absl::StatusOr<v1::Job> Submit(const v1::SubmitJobRequest& request, const std::string& user);
  // The caller (IdentityOf over options_.tokens), and whether it may see the job `name` names: OK for an admin or the
  // job's owner, NOT_FOUND as for a missing job otherwise (and for a missing job: the logic reports it).
  absl::StatusOr<CallerIdentity> Caller(const grpc::ServerContext& context) const;
  absl::Status CheckOwner(const CallerIdentity& caller, absl::string_view name);
  // Caller then CheckOwner: what every handler that names a job checks first.
  absl::Status Authorize(const grpc::ServerContext& context, absl::string_view name);
  absl::StatusOr<v1::Job> Get(const v1::GetJobRequest& request);
  // `owner` non-empty: only that user's jobs.
  absl::StatusOr<v1::ListJobsResponse> List(const v1::ListJobsRequest& request, const std::string& owner);
  absl::StatusOr<v1::Job> Cancel(const v1::CancelJobRequest& request);
  absl::Status Watch(grpc::ServerContext& context, const v1::WatchJobRequest& request,
                     grpc::ServerWriter<v1::JobEvent>& writer);
  absl::StatusOr<v1::GetJobLogsResponse> Logs(const v1::GetJobLogsRequest& request);
  absl::StatusOr<v1::ListCheckpointsResponse> Checkpoints(const v1::ListCheckpointsRequest& request);
  absl::Status Download(const v1::DownloadArtifactRequest& request,
                        grpc::ServerWriter<v1::DownloadArtifactResponse>& writer);
  absl::StatusOr<v1::ListWorkersResponse> Workers();
  // BackupState's logic, for an admin caller: the path checked, the store copied, the copy counted.
  absl::StatusOr<v1::BackupStateResponse> Backup(const v1::BackupStateRequest& request);

  // Stores a new job (QUEUED, its events) under the next free id, indexes its request_id, wakes the scheduler.
  absl::StatusOr<v1::Job> CreateJob(v1::Job job, std::vector<v1::JobEvent> events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(submit_mu_);
  // RunEvaluation's logic: PlanEvaluation, the request_id retry, the placement check, the job stored.
  absl::StatusOr<v1::Evaluation> Evaluate(const v1::RunEvaluationRequest& request, const std::string& user);
  // GetEvaluation's: the job `id` as an Evaluation (NOT_FOUND naming `name` for none, or a training job).
  absl::StatusOr<v1::Evaluation> GetEvaluationView(const std::string& id, absl::string_view name);
  // The existing job for a retried submit: it, or ALREADY_EXISTS when `request` differs; nullopt for a new key.
  absl::StatusOr<std::optional<v1::Job>> FindRetry(const v1::SubmitJobRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(submit_mu_);

  CoordinatorStore& store_;
  JobEvents& events_;
  const std::function<absl::Time()> clock_;
  const JobServiceOptions options_;

  absl::Mutex submit_mu_;
  int64_t next_job_number_ ABSL_GUARDED_BY(submit_mu_) = 1;
  std::map<std::string, std::string> request_ids_ ABSL_GUARDED_BY(submit_mu_);  // request_id -> job id.
};

}  // namespace ftd
