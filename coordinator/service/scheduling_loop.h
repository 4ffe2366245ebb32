// SchedulingLoop: one scheduling cycle of the coordinator: the QUEUED jobs and the free slots of the live workers go
// through the gang scheduler (coordinator/scheduler), each placement is stored (SCHEDULED with its RankPlacements and
// a "Placed" StateChange) and its ranks' RunRank commands are queued on the workers' assignment streams.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/service/job_events.h"
#include "coordinator/service/worker_service.h"
#include "coordinator/store/coordinator_store.h"
#include "ftd/v1/job_spec.pb.h"

namespace ftd {

class JobMetrics;

struct SchedulingLoopOptions {
  // Bytes one rank of a job needs (its resolved spec). Null: base_model's config.json through LoadLlamaConfig and
  // EstimateRankMemory, as SubmitJob's placement check does. Asked once per job; an error leaves the job QUEUED
  // (logged once) without blocking the jobs behind it.
  std::function<absl::StatusOr<int64_t>(const ftd::v1::JobSpec& resolved)> rank_memory;
  // Where cycle times and first placements' queue waits are observed; null: nowhere. Must outlive the loop.
  JobMetrics* metrics = nullptr;
};

// Lifecycle: construct after the store, the events hub and the worker service (all must outlive it), call RunCycle
// whenever Wake was called and at least every 500 ms (the daemon's control thread, after each lease sweep).
// Thread-safe; cycles are serialised.
//
// A cycle reads the unfinished jobs from the store: a worker named in the placement of a job that is not QUEUED runs
// a rank and is busy; the QUEUED jobs, in creation order, are the queue. Slots come from the workers whose lease is
// valid now and renewed within the last half lease (PlaceableWorkers) and their stored registration
// (WorkerSlotsOf): a worker whose lease ran out is never used, swept or not, nor one that has gone quiet. Fair share
// counts running ranks per user (Job.user, the submitter's token's user): within a priority, the user with the
// fewest ranks running goes first, then submission order. Each placement is written through UpdateJobAndPublish as
// a compare-and-set on the job still being QUEUED (a job cancelled meanwhile is skipped), then a RunRank per rank
// (RunRankFor over the stored job) is queued for its worker. GPU ranks on one worker take its GPUs in registration
// order ("cuda:<index>").
class SchedulingLoop {
 public:
  SchedulingLoop(CoordinatorStore& store, JobEvents& events, CoordinatorWorkerService& workers,
                 std::function<absl::Time()> clock, SchedulingLoopOptions options = {});
  SchedulingLoop(const SchedulingLoop&) = delete;
  SchedulingLoop& operator=(const SchedulingLoop&) = delete;

  // Runs one cycle; returns how many jobs it placed. Store errors are returned (the jobs placed before the error
  // stay placed; the next cycle picks up the rest).
  absl::StatusOr<int> RunCycle();

  // Asks for a cycle soon: a job was submitted or released from its backoff, ranks were freed, a worker registered.
  // Wakes whoever waits in WaitForWake; wakes between two waits coalesce into one. Thread-safe and cheap.
  void Wake();
  // Blocks until Wake was called since the last return (true) or `timeout` passed (false). For the daemon's control
  // thread, which still cycles every `timeout` (restart backoffs end by the clock alone).
  bool WaitForWake(absl::Duration timeout);

 private:
  absl::StatusOr<int> Cycle() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The job's per-rank bytes, asked once per job.
  absl::StatusOr<int64_t> RankMemory(const ftd::v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  CoordinatorStore& store_;
  JobEvents& events_;
  CoordinatorWorkerService& workers_;
  const std::function<absl::Time()> clock_;
  const SchedulingLoopOptions options_;

  absl::Mutex wake_mu_;
  absl::CondVar wake_cv_;
  bool woken_ ABSL_GUARDED_BY(wake_mu_) = false;

  absl::Mutex mu_;  // One cycle at a time.
  // Job name -> its estimate (or why there is none); entries of jobs no longer queued are dropped each cycle.
  std::map<std::string, absl::StatusOr<int64_t>> rank_memory_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ftd
