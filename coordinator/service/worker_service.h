// CoordinatorWorkerService: the coordinator's side of the ftd.v1 WorkerService: worker registration, leases kept
// alive by heartbeats, and the rendezvous KV (per job attempt) that bootstraps Gloo and NCCL. Assignments, reports
// and checkpoint transfer come with the scheduler and the training loop's wiring (they answer UNIMPLEMENTED).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/store/coordinator_store.h"
#include "ftd/v1/worker_service.grpc.pb.h"

namespace ftd {

struct WorkerServiceOptions {
  // How long a lease lasts after a registration or a heartbeat.
  absl::Duration lease_duration = absl::Seconds(30);
  // What RegisterWorker reports and whose major version a worker must share. Empty: this build's version.
  std::string coordinator_version;
  // How often a blocked RendezvousWait checks whether its client went away (the synchronous gRPC API has no
  // cancellation callback). A set of any key and Shutdown() wake it at once.
  absl::Duration wait_cancel_check_interval = absl::Milliseconds(100);
};

// Implements RegisterWorker, Heartbeat, RendezvousSet, RendezvousGet and RendezvousWait; WatchAssignments,
// ReportMetrics, PutCheckpoint and GetCheckpoint answer UNIMPLEMENTED naming the work that brings them.
//
// Workers: a registration is checked (a GPU worker must be built with CUDA: INVALID_ARGUMENT; its version's major
// must be the coordinator's: FAILED_PRECONDITION), named "workers/w-N" from a counter above every stored w-N, and
// stored (CoordinatorStore::PutWorker), so the placement check sees it. Leases live in memory only: Create gives
// every stored worker a fresh lease from the clock, as coordinator_store.h says a restarted coordinator must.
// A heartbeat renews an unexpired lease; once a lease has run out the worker is lost for good (lease_valid=false:
// it must register again and gets a new name). ExpireLeases, which the daemon calls periodically, finds the
// workers whose lease ran out, deletes their stored registration and returns them (the scheduler will give up
// their ranks).
//
// Rendezvous: keys live in the store under the scope "<job>/<attempt>" (e.g. "jobs/ft-000001/0"), write-once.
// Whether the attempt is still current (ABORTED otherwise) is the scheduler's to answer, when it comes.
//
// Threading: handlers run on gRPC's threads; the lease table has its own mutex, a rendezvous set wakes waiters
// through a condition variable. Lifecycle: Create, register with a grpc::Server, call Shutdown() before
// grpc::Server::Shutdown() so blocked RendezvousWait calls return, destroy after the server. The store must
// outlive the service.
class CoordinatorWorkerService final : public v1::WorkerService::Service {
 public:
  // Reads the stored workers once: the next worker number and a fresh lease for each. Store errors are returned.
  static absl::StatusOr<std::unique_ptr<CoordinatorWorkerService>> Create(CoordinatorStore& store,
                                                                         std::function<absl::Time()> clock,
                                                                         WorkerServiceOptions options = {});

  grpc::Status RegisterWorker(grpc::ServerContext* context, const v1::RegisterWorkerRequest* request,
                              v1::RegisterWorkerResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status WatchAssignments(grpc::ServerContext* context, const v1::WatchAssignmentsRequest* request,
                                grpc::ServerWriter<v1::WorkerCommand>* writer) override;
  grpc::Status ReportMetrics(grpc::ServerContext* context, const v1::ReportMetricsRequest* request,
                             v1::ReportMetricsResponse* response) override;
  grpc::Status PutCheckpoint(grpc::ServerContext* context, grpc::ServerReader<v1::PutCheckpointRequest>* reader,
                             v1::Checkpoint* response) override;
  grpc::Status GetCheckpoint(grpc::ServerContext* context, const v1::GetCheckpointRequest* request,
                             grpc::ServerWriter<v1::GetCheckpointResponse>* writer) override;
  grpc::Status RendezvousSet(grpc::ServerContext* context, const v1::RendezvousSetRequest* request,
                             v1::RendezvousSetResponse* response) override;
  grpc::Status RendezvousGet(grpc::ServerContext* context, const v1::RendezvousGetRequest* request,
                             v1::RendezvousGetResponse* response) override;
  grpc::Status RendezvousWait(grpc::ServerContext* context, const v1::RendezvousWaitRequest* request,
                              v1::RendezvousWaitResponse* response) override;

  // The workers (ids, the {worker} of "workers/{worker}") whose lease ran out at or before `now`, in id order; each
  // is marked lost and its stored registration deleted. A worker is returned once. A failed delete is logged, not
  // returned: the worker is lost all the same, and its leftover registration gets a fresh lease at the next restart
  // and expires again then.
  std::vector<std::string> ExpireLeases(absl::Time now);

  // Workers holding a lease right now (expired ones not yet swept count until ExpireLeases).
  int live_workers() const;

  // Wakes every blocked RendezvousWait with UNAVAILABLE, now and for every later one.
  void Shutdown();

 private:
  CoordinatorWorkerService(CoordinatorStore& store, std::function<absl::Time()> clock, WorkerServiceOptions options);

  // The RPCs' logic; the gRPC overrides only convert through ToGrpc. `peer` is gRPC's "ipv4:host:port" form.
  absl::StatusOr<v1::RegisterWorkerResponse> Register(const v1::RegisterWorkerRequest& request,
                                                      absl::string_view peer);
  absl::StatusOr<v1::HeartbeatResponse> Beat(const v1::HeartbeatRequest& request);
  absl::Status Set(const v1::RendezvousSetRequest& request);
  absl::StatusOr<v1::RendezvousGetResponse> Get(const v1::RendezvousGetRequest& request);
  absl::StatusOr<v1::RendezvousWaitResponse> Wait(grpc::ServerContext& context,
                                                  const v1::RendezvousWaitRequest& request);

  CoordinatorStore& store_;
  const std::function<absl::Time()> clock_;
  const WorkerServiceOptions options_;

  mutable absl::Mutex lease_mu_;
  int64_t next_worker_number_ ABSL_GUARDED_BY(lease_mu_) = 1;
  std::map<std::string, absl::Time> lease_expiry_ ABSL_GUARDED_BY(lease_mu_);  // Worker id -> lease end.
  std::set<std::string> lost_ ABSL_GUARDED_BY(lease_mu_);  // Lease ran out; heartbeats answer lease_valid=false.

  // Rendezvous wake-ups: every successful set bumps the generation; a waiter that saw generation g before reading
  // the store sleeps only while it is still g, so a set between its read and its sleep is never missed.
  absl::Mutex rendezvous_mu_;
  absl::CondVar rendezvous_cv_;
  int64_t rendezvous_generation_ ABSL_GUARDED_BY(rendezvous_mu_) = 0;
  bool shut_down_ ABSL_GUARDED_BY(rendezvous_mu_) = false;
};

}  // namespace ftd
