// InMemoryJobService: a JobService kept in memory, for tests only. It pins down the contract of
// job_service.proto (ids, paging, filters, idempotency, event sequencing, status codes) before the real
// coordinator exists; the coordinator's service tests can later run the same round trips against it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ftd/v1/job_service.grpc.pb.h"

namespace ftd {

struct InMemoryJobServiceOptions {
  // Source of every timestamp the service writes; tests inject a fake clock.
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  // How often a blocked WatchJob checks whether its client went away: the synchronous gRPC API has no
  // cancellation callback, so a waiting handler must look. Events and shutdown wake it at once.
  absl::Duration watch_cancel_check_interval = absl::Milliseconds(100);
};

// Implements SubmitJob, GetJob, ListJobs, CancelJob and WatchJob; every other RPC answers UNIMPLEMENTED
// (the generated base class's default). Nothing runs jobs: SetState and AppendEvent stand in for the
// scheduler and the workers.
//
// Thread-safe: all state sits under one mutex; gRPC calls handlers from its own threads. Call Shutdown()
// before grpc::Server::Shutdown() so blocked WatchJob calls return instead of holding the server open.
class InMemoryJobService final : public v1::JobService::Service {
 public:
  explicit InMemoryJobService(InMemoryJobServiceOptions options = {});

  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                         v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override;

  // Scheduler stand-in: moves job `name` to `state` and records the StateChange event. FAILED_PRECONDITION
  // when the job is already terminal.
  absl::Status SetState(absl::string_view name, v1::JobState state, absl::string_view reason);

  // Worker stand-in: appends a non-state event (metrics, log, checkpoint, ...); fills in job, sequence and
  // time and returns the sequence. INVALID_ARGUMENT for a state change (use SetState), FAILED_PRECONDITION
  // on a terminal job.
  absl::StatusOr<int64_t> AppendEvent(absl::string_view name, v1::JobEvent event);

  // Makes every blocked and future WatchJob return UNAVAILABLE.
  void Shutdown();

 private:
  struct JobRecord {
    v1::Job job;
    std::vector<v1::JobEvent> events;  // events[i].sequence() == i + 1.
  };

  absl::StatusOr<v1::Job> Submit(const v1::SubmitJobRequest& request);
  absl::StatusOr<v1::ListJobsResponse> List(const v1::ListJobsRequest& request);
  absl::StatusOr<v1::Job> Cancel(const v1::CancelJobRequest& request);
  absl::Status Watch(grpc::ServerContext& context, const v1::WatchJobRequest& request,
                     grpc::ServerWriter<v1::JobEvent>& writer);

  // NOT_FOUND for an unknown job, INVALID_ARGUMENT for a malformed name.
  absl::StatusOr<JobRecord*> FindLocked(absl::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends `event` to the job's history with the next sequence and wakes watchers.
  int64_t AppendLocked(JobRecord& record, v1::JobEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status TransitionLocked(JobRecord& record, v1::JobState to, absl::string_view reason,
                                absl::string_view message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const InMemoryJobServiceOptions options_;
  absl::Mutex mu_;
  absl::CondVar changed_;  // Signalled on every new event and on Shutdown.
  std::map<std::string, JobRecord> jobs_ ABSL_GUARDED_BY(mu_);          // By name.
  std::map<int64_t, std::string> creation_order_ ABSL_GUARDED_BY(mu_);  // Creation number -> name.
  std::map<std::string, std::string> request_ids_ ABSL_GUARDED_BY(mu_);  // request_id -> name.
  int64_t next_job_number_ ABSL_GUARDED_BY(mu_) = 1;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

// True for SUCCEEDED, FAILED, CANCELLED and EARLY_STOPPED.
bool IsTerminal(v1::JobState state);

}  // namespace ftd
