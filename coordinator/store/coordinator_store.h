// CoordinatorStore: everything the coordinator must not forget (DESIGN.md, Storage): jobs and their event history,
// registered workers, per-job checkpoints, evaluation results and the rendezvous KV, in one RocksDB database. Every
// write is synced before the call returns, and a job's new state goes in the same write batch as the events that
// record it, so a coordinator killed at any instant reopens to a consistent state holding every acknowledged write.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/checkpoint/checkpoint_store.h"
#include "ftd/v1/eval.pb.h"
#include "ftd/v1/job.pb.h"
#include "ftd/v1/job_event.pb.h"
#include "ftd/v1/worker_service.pb.h"

namespace ftd {

// A registered worker as stored: its name and what it said about itself when it registered. Leases are not
// stored (they are renewed every few seconds and would cost a synced write each); after a restart the coordinator
// gives every stored worker a fresh lease, and one that does not heartbeat within it is dropped as usual.
struct StoredWorker {
  std::string worker_id;  // {worker} of the resource name "workers/{worker}": [A-Za-z0-9._-]{1,128}.
  ftd::v1::RegisterWorkerRequest registration;
};

// One benchmark result of a job, under the name the coordinator gave it (e.g. "base/mmlu", "tuned/0").
struct NamedEvalResult {
  std::string name;
  ftd::v1::BenchmarkResult result;
};

struct JobQuery {
  // Only jobs for which this returns true; null for every job.
  std::function<bool(const ftd::v1::Job&)> filter;
  // At most this many jobs per page; must be positive.
  int page_size = 100;
  // Empty for the first page, else a next_page_token from an earlier ListJobs (with the same filter).
  std::string page_token;
};

struct JobPage {
  std::vector<ftd::v1::Job> jobs;  // In creation order.
  // Opaque; empty when this page is the last. Tokens stay valid forever: jobs are only ever appended.
  std::string next_page_token;
};

// What Open found and did, for the coordinator to rebuild its in-memory state from.
struct StoreRecovery {
  // Checkpoints whose writer died before committing the manifest; their chunks were removed.
  int64_t orphan_checkpoints_removed = 0;
  // Every job not in a terminal state (SUCCEEDED, FAILED, CANCELLED, EARLY_STOPPED), in creation order: the ones
  // to re-place, resume or watch.
  std::vector<ftd::v1::Job> unfinished_jobs;
};

// Changes a job in place and appends the events that record the change; runs inside UpdateJob. A non-OK return
// aborts the update (nothing is written) and is returned by UpdateJob.
using JobMutation = absl::FunctionRef<absl::Status(ftd::v1::Job& job, std::vector<ftd::v1::JobEvent>& events)>;

// Lifecycle: Open, use from any number of threads, destroy (closes the DB). Every method is thread-safe. Reads go
// straight to RocksDB; writes that must read first (CreateJob, UpdateJob, RendezvousSet) are serialised by one
// mutex, which is what makes UpdateJob a compare-and-set: its mutation sees the latest stored job and nothing can
// write the job between that read and the batch. One process at a time (RocksDB locks the directory).
//
// Ids. Job ids are the {job} of "jobs/{job}" and match [a-z][a-z0-9-]{0,62}; Job.name must be "jobs/" + id. Worker
// ids as StoredWorker says. Bad ids are INVALID_ARGUMENT. The store does not check that a job exists before storing
// its checkpoints or evaluation results: the services do.
//
// Events. Every JobEvent of a job gets the next sequence number (1, 2, 3, ... with no gaps) and the job's name from
// the store, which also keeps Job.last_event_sequence (the newest event) and Job.state_sequence (the event that
// moved the job into its state); whatever a caller puts there is overwritten. A change of Job.state must come with
// StateChange events that chain from the stored state to the new one (from_state of the first = the old state,
// each next from_state = the previous to_state, the last to_state = the new state), and StateChange events may
// only come with such a change: INVALID_ARGUMENT otherwise. The store does not judge whether a transition is
// legal (the lifecycle does, coordinator/jobs); it guarantees that the state and its event are never apart.
//
// Errors: NOT_FOUND for a missing job, worker or report; DATA_LOSS naming the family and key for a stored value
// that does not parse; RocksDB errors through FromRocks (UNAVAILABLE: I/O, retry; RESOURCE_EXHAUSTED: disk full).
class CoordinatorStore {
 public:
  // Opens the database at `path`, creating it (and any missing column family) when absent, then recovers: removes
  // the orphan checkpoint chunks of every job and collects the unfinished jobs (recovery()). UNAVAILABLE when
  // another process has it open; FAILED_PRECONDITION when it was written in another store format; DATA_LOSS when
  // a stored job does not parse (the coordinator must not start on state it cannot read).
  static absl::StatusOr<std::unique_ptr<CoordinatorStore>> Open(const std::string& path);

  virtual ~CoordinatorStore() = default;

  // What Open found; fixed for the store's lifetime.
  virtual const StoreRecovery& recovery() const = 0;

  // --- Jobs and their events. ---

  // Stores a new job and its first events in one batch. job.state must be set and `events` must hold the
  // StateChange(s) from UNSPECIFIED to it (usually one: UNSPECIFIED -> QUEUED, "Submitted"). Returns the job as
  // stored. ALREADY_EXISTS when the id is taken (ids are never reused).
  virtual absl::StatusOr<ftd::v1::Job> CreateJob(ftd::v1::Job job, std::vector<ftd::v1::JobEvent> events) = 0;

  virtual absl::StatusOr<ftd::v1::Job> GetJob(absl::string_view job_id) = 0;

  // Reads the job, calls `mutate` on a copy under the write mutex, then writes the new job and the events it
  // appended in one synced batch. Returns the job as stored. The mutation may not rename the job and must not call
  // back into the store (it runs under the store's mutex). When it changes nothing and appends no event, nothing
  // is written.
  virtual absl::StatusOr<ftd::v1::Job> UpdateJob(absl::string_view job_id, JobMutation mutate) = 0;

  // Appends events that change no state (metrics, logs, checkpoints saved, progress): UpdateJob with only events.
  absl::StatusOr<ftd::v1::Job> AppendEvents(absl::string_view job_id, std::vector<ftd::v1::JobEvent> events);

  // Jobs in creation order, a page at a time. INVALID_ARGUMENT for page_size <= 0 or a token ListJobs did not make.
  virtual absl::StatusOr<JobPage> ListJobs(const JobQuery& query) = 0;

  // The job's events with sequence > after_sequence, oldest first, at most `limit` (> 0) of them. NOT_FOUND when
  // there is no such job.
  virtual absl::StatusOr<std::vector<ftd::v1::JobEvent>> ListEvents(absl::string_view job_id, int64_t after_sequence,
                                                                    int limit) = 0;

  // --- Workers. ---

  // Inserts or replaces the worker.
  virtual absl::Status PutWorker(const StoredWorker& worker) = 0;
  virtual absl::StatusOr<StoredWorker> GetWorker(absl::string_view worker_id) = 0;
  // Every stored worker, by id.
  virtual absl::StatusOr<std::vector<StoredWorker>> ListWorkers() = 0;
  // OK when absent.
  virtual absl::Status DeleteWorker(absl::string_view worker_id) = 0;

  // --- Rendezvous KV: one scope per job attempt (e.g. "jobs/j1/attempts/0"), keys write-once. ---

  // Scope and key are non-empty bytes; the scope may not hold '\0'. Setting a key again to the same value is OK (a
  // retry); to a different value it is ALREADY_EXISTS, as RendezvousSetRequest specifies.
  virtual absl::Status RendezvousSet(absl::string_view scope, absl::string_view key, absl::string_view value) = 0;
  // nullopt when the key is not set.
  virtual absl::StatusOr<std::optional<std::string>> RendezvousGet(absl::string_view scope,
                                                                   absl::string_view key) = 0;
  // Removes every key of the scope at once (the attempt was superseded or the job ended). OK when empty.
  virtual absl::Status RendezvousDeleteScope(absl::string_view scope) = 0;

  // --- Evaluation results. ---

  // Inserts or replaces the job's result `name`: [A-Za-z0-9._/-]{1,256}.
  virtual absl::Status PutEvalResult(absl::string_view job_id, absl::string_view name,
                                     const ftd::v1::BenchmarkResult& result) = 0;
  // The job's results in name order; empty when there are none.
  virtual absl::StatusOr<std::vector<NamedEvalResult>> ListEvalResults(absl::string_view job_id) = 0;
  // The job's transfer report (one per job), inserted or replaced.
  virtual absl::Status PutTransferReport(absl::string_view job_id, const ftd::v1::TransferReport& report) = 0;
  virtual absl::StatusOr<ftd::v1::TransferReport> GetTransferReport(absl::string_view job_id) = 0;

  // --- Checkpoints. ---

  // The job's checkpoints: a CheckpointStore over the shared checkpoints family whose keys all start with
  // "jobs/<job>/", so two jobs' "step-00000020" never meet and RemoveOrphans touches only this job's. Valid while
  // this store lives; any number of views may exist at once (each for one thread at a time).
  virtual absl::StatusOr<std::unique_ptr<CheckpointStore>> Checkpoints(absl::string_view job_id) = 0;
  // RemoveOrphans over every job's checkpoints; returns how many checkpoints were removed. Open calls it; call it
  // again only while no checkpoint upload is in flight (an upload's chunks are an orphan until its manifest).
  virtual absl::StatusOr<int64_t> RemoveAllOrphanCheckpoints() = 0;
  // Removes every checkpoint of the job, committed or not, in one synced write. OK when there are none.
  virtual absl::Status DeleteJobCheckpoints(absl::string_view job_id) = 0;

  // --- Backup. ---

  // A consistent copy of the whole database in `directory` (absent; its parent must exist), taken while the store
  // serves (RocksDB's Checkpoint: immutable files hard-linked when on the same filesystem, else copied; the WAL
  // copied), which Open opens as it is. Writes made during the call are in the copy or not, never half.
  // ALREADY_EXISTS when `directory` exists.
  virtual absl::Status Backup(const std::string& directory) = 0;
};

}  // namespace ftd
