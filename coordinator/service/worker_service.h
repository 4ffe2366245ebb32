// CoordinatorWorkerService: the coordinator's side of the ftd.v1 WorkerService: worker registration, leases kept
// alive by heartbeats, the assignments stream that carries the scheduler's RunRank commands, and the rendezvous KV
// (per job attempt) that bootstraps Gloo and NCCL. Reports, checkpoint transfer and the heartbeat's rank check are
// handed to the JobRuntime (job_runtime.h).
#pragma once

#include <cstdint>
#include <deque>
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
#include "ftd/v1/job.pb.h"
#include "ftd/v1/worker_service.grpc.pb.h"

namespace ftd {

class JobRuntime;

struct WorkerServiceOptions {
  // How long a lease lasts after a registration or a heartbeat.
  absl::Duration lease_duration = absl::Seconds(30);
  // What RegisterWorker reports and whose major version a worker must share. Empty: this build's version.
  std::string coordinator_version;
  // How often a blocked RendezvousWait or an idle WatchAssignments stream checks whether its client went away (the
  // synchronous gRPC API has no cancellation callback). A set of any key, a queued command and Shutdown() wake
  // them at once.
  absl::Duration wait_cancel_check_interval = absl::Milliseconds(100);
  // Called after a worker registered (new slots: the daemon wakes the scheduler). May be null.
  std::function<void()> on_registered;
};

// Every job not in a terminal state, in creation order (the store's ListJobs, all pages).
absl::StatusOr<std::vector<v1::Job>> ListUnfinishedJobs(CoordinatorStore& store);

// The RunRank that starts `placement`'s rank of `job`'s current attempt: attempt = restart_count, world_size = the
// placement's size, the resolved spec, Gloo for a CPU job and NCCL for a CUDA one, device_index N of "cuda:N" (0 for
// "cpu"), task TRAIN. For an EVALUATING job: task EVALUATE, world_size 1, the spec's benchmarks, eval_role =
// Job.evaluation_role and its target (TUNED: the checkpoint "final"; BASE: the base model directory).
v1::RunRank RunRankFor(const v1::Job& job, const v1::RankPlacement& placement);

// Implements RegisterWorker, Heartbeat, WatchAssignments and the rendezvous RPCs; ReportMetrics, PutCheckpoint and
// GetCheckpoint go to the attached JobRuntime (UNAVAILABLE until one is attached), as do the ranks a heartbeat
// lists (those no longer assigned are answered with AbortRank).
//
// Workers: a registration is checked (a GPU worker must be built with CUDA: INVALID_ARGUMENT; its version's major
// must be the coordinator's: FAILED_PRECONDITION; a live worker with the same host and instance or GPU:
// ALREADY_EXISTS), named "workers/w-N" from a counter above every stored w-N, and
// stored (CoordinatorStore::PutWorker), so the placement check sees it. Leases live in memory only: Create gives
// every stored worker a fresh lease from the clock, as coordinator_store.h says a restarted coordinator must.
// A heartbeat renews an unexpired lease; once a lease has run out the worker is lost for good (lease_valid=false:
// it must register again and gets a new name). ExpireLeases, which the daemon calls periodically, finds the
// workers whose lease ran out, deletes their stored registration and returns them (the scheduler will give up
// their ranks).
//
// Assignments: each live worker has a mailbox of commands (QueueCommand, called by the SchedulingLoop after it
// stored the placement). A WatchAssignments stream first replays a RunRank for every rank the store says the worker
// holds (unfinished jobs whose placement names it), then sends what is queued, sequence 1, 2, ... per stream. A new
// stream of the same worker empties the mailbox before it reads the store (so a command queued after a placement's
// write is either replayed or queued, never lost; at worst sent twice, which RunRank allows) and ends the older
// stream with ABORTED. A lost lease drops the mailbox and ends the stream with NOT_FOUND (register again).
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

  // The ids of the workers whose lease is still valid at `now` (unlike live_workers, an expired lease not yet swept
  // does not count), in id order.
  std::vector<std::string> LiveWorkers(absl::Time now) const;

  // The live workers a scheduling cycle may place ranks on: those heard from within the last half lease (a healthy
  // worker renews every third of it). A worker that died keeps its lease until it runs out, but stops being
  // placeable half a lease after its last heartbeat, so a job that lost a rank there is not placed straight back
  // on it. In id order.
  std::vector<std::string> PlaceableWorkers(absl::Time now) const;

  // Queues `command` for the worker "workers/{worker}" and wakes its stream; the stream sets the sequence. Dropped
  // (false) for a worker without a lease.
  bool QueueCommand(absl::string_view worker, v1::WorkerCommand command);

  // Wakes every blocked RendezvousWait and WatchAssignments stream with UNAVAILABLE, now and for every later one.
  void Shutdown();

  // Where reports, checkpoints and heartbeat rank lists go. Call once, before the service takes calls; the runtime
  // must outlive the service.
  void AttachRuntime(JobRuntime* runtime) { runtime_ = runtime; }

  // The lease end of every worker holding a lease (expired ones not yet swept included), by id.
  std::map<std::string, absl::Time> LeaseExpiries() const;

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
  absl::Status Watch(grpc::ServerContext& context, const v1::WatchAssignmentsRequest& request,
                     grpc::ServerWriter<v1::WorkerCommand>& writer);
  bool HasLease(const std::string& id) const;
  // ALREADY_EXISTS when a live worker has the request's host and instance, or one of its GPUs (RegisterWorkerRequest).
  absl::Status CheckNotRegistered(const v1::RegisterWorkerRequest& request);
  // OK when `worker` ("workers/{worker}") holds a lease and a runtime is attached.
  absl::Status CheckWorker(absl::string_view worker) const;

  CoordinatorStore& store_;
  const std::function<absl::Time()> clock_;
  const WorkerServiceOptions options_;
  JobRuntime* runtime_ = nullptr;

  absl::Mutex register_mu_;  // Serialises registrations: the duplicate check and the store write.
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

  // Per-worker command queues. `stream` counts the worker's streams: only the newest one takes commands.
  struct Mailbox {
    std::deque<v1::WorkerCommand> pending;
    int64_t stream = 0;
  };
  absl::Mutex assign_mu_;
  absl::CondVar assign_cv_;
  std::map<std::string, Mailbox> mailboxes_ ABSL_GUARDED_BY(assign_mu_);  // Worker id -> its commands.
  bool assign_shut_down_ ABSL_GUARDED_BY(assign_mu_) = false;
};

}  // namespace ftd
