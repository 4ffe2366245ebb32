// JobRuntime: what the coordinator does with a job while its ranks run: the ranks' reports (metrics, logs and
// status: RUNNING, done, early stop, failure), rank 0's checkpoint uploads (stored, marked best, garbage-collected)
// and downloads for a resuming attempt, lost workers, restarts with backoff, and aborting ranks that are no longer
// wanted. The WorkerService's ReportMetrics, PutCheckpoint, GetCheckpoint and Heartbeat hand their requests here;
// the daemon calls WorkersLost after each lease sweep and ReleaseRestarts before each scheduling cycle.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/jobs/job_lifecycle.h"
#include "coordinator/service/job_events.h"
#include "coordinator/store/coordinator_store.h"
#include "ftd/v1/job.pb.h"
#include "ftd/v1/worker_service.pb.h"

namespace ftd {

class CoordinatorWorkerService;
class JobMetrics;

struct JobRuntimeOptions {
  RestartPolicy restart;
  // Where samples, restarts, finishes, early stops and checkpoint uploads are counted; null: nowhere. Must outlive
  // the runtime.
  JobMetrics* metrics = nullptr;
  // Called when ranks were freed or a job may be placed again (an attempt or a job ended, a backoff passed), so the
  // daemon can run a scheduling cycle at once. May be null.
  std::function<void()> on_slots_changed;
  // Chunk size of GetCheckpoint streams.
  int64_t checkpoint_chunk_bytes = int64_t{1} << 20;
};

// Job states from rank reports (DESIGN.md, Job lifecycle):
//   - any report of the current attempt while SCHEDULED: RUNNING ("RanksStarted");
//   - rank 0 DONE: RUNNING -> EVALUATING (the final result of the same attempt must have been uploaded first);
//     without benchmarks straight on to SUCCEEDED; with them, rank 0's worker keeps its slot and gets an EVALUATE
//     rank for the tuned model, then (unless every benchmark's base results are cached) one for the base model;
//     its DONE carries the BenchmarkResults, stored as "tuned/NNN" / "base/NNN", and once both sides are there the
//     TransferReport (transfer_report_builder.h) is stored and the job SUCCEEDS. A failed evaluation fails the job
//     (no restart: the trained result is stored);
//   - rank 0 EARLY_STOPPED (after uploading its final result, the best checkpoint's weights): the EarlyStop event,
//     Job.stopped_early, and then as for DONE, except that the job ends EARLY_STOPPED rather than SUCCEEDED (at once
//     when it has no benchmarks);
//   - an EVALUATE rank's EvaluationProgress (the benchmark it is on, items done) becomes a JobEvent;
//   - a stand-alone evaluation (Job.evaluation, evaluation_jobs.h): its one rank is an EVALUATE rank from the start,
//     so its first report moves SCHEDULED -> EVALUATING ("EvaluationStarted"); its DONE ends the job SUCCEEDED when
//     the request has no baseline, else the baseline is scored (or taken from the cache) and the report built;
//   - any rank FAILED: its error_status_code is classified (ClassifyRankError) and DecideFailure says RESTARTING
//     (attempt + 1 after a backoff, resuming from the newest checkpoint) or FAILED; every rank of the attempt gets
//     AbortRank (the failed one's worker has nothing left to stop).
// A lost worker is a RANK_LOST failure of every rank it held. Reports of an attempt that is no longer current
// (other attempt, job ended, rank not on that worker) are FAILED_PRECONDITION: the rank must stop.
//
// Report batches are deduplicated by batch_sequence per (job, attempt, rank, phase) in memory: after a coordinator
// restart a retried batch may be applied twice (its log lines show twice; states are idempotent).
//
// Threading: every method may be called from any gRPC thread; job changes are compare-and-set writes through the
// store (UpdateJobAndPublish), the dedup table has its own mutex. Construct after the store, the events hub and the
// worker service (all must outlive it).
class JobRuntime {
 public:
  JobRuntime(CoordinatorStore& store, JobEvents& events, CoordinatorWorkerService& workers,
             std::function<absl::Time()> clock, JobRuntimeOptions options = {});
  JobRuntime(const JobRuntime&) = delete;
  JobRuntime& operator=(const JobRuntime&) = delete;

  absl::StatusOr<ftd::v1::ReportMetricsResponse> Report(const ftd::v1::ReportMetricsRequest& request);

  // PutCheckpoint: the header must come from rank 0 of the current attempt (FAILED_PRECONDITION otherwise); the
  // stream is stored (StoreUploadedCheckpoint), a best one becomes Job.best_checkpoint, a CheckpointSaved event is
  // recorded and old checkpoints are collected (save_total_limit, the best and "final" kept).
  absl::StatusOr<ftd::v1::Checkpoint> PutCheckpoint(const ftd::v1::PutCheckpointHeader& header,
                                                    absl::FunctionRef<bool(ftd::v1::PutCheckpointRequest&)> next);

  absl::Status GetCheckpoint(const ftd::v1::GetCheckpointRequest& request,
                             absl::FunctionRef<bool(const ftd::v1::GetCheckpointResponse&)> send);

  // The ranks a heartbeat reports that the coordinator does not assign to `worker` (ended job, older attempt,
  // other worker) get an AbortRank on its stream.
  void AbortUnassigned(absl::string_view worker, const std::vector<ftd::v1::RankStatus>& ranks);

  // Every unfinished job with a rank on one of these workers ("w-1", as ExpireLeases returns them) loses its
  // attempt (RANK_LOST). Store errors are logged; the next sweep cannot see the worker again, so the heartbeat
  // check and the restarted job's rendezvous timeout are the fallback.
  void WorkersLost(const std::vector<std::string>& worker_ids);

  // RESTARTING jobs whose next_attempt_time has passed go back to QUEUED ("BackoffElapsed"). Returns how many.
  absl::StatusOr<int> ReleaseRestarts();

  // Sends AbortRank to every rank of `job`'s placement (a job that just left its attempt: cancelled, failed,
  // restarting).
  void AbortRanks(const ftd::v1::Job& job, absl::string_view reason);

 private:
  // What an evaluation rank's DONE leads to: the battery is done (the report built, or a stand-alone evaluation
  // without a baseline scored; the job ends), or the base model is next.
  struct EvaluationStep {
    bool done = false;
    std::string summary;  // The final state change's message.
  };
  // Stores the results the report carries (and, for the base model, in the cache keyed by the content hashes of
  // model and data plus the benchmark's settings); builds and stores the TransferReport when both sides are there
  // (the base from the cache when every benchmark is cached under the tuned rank's baseline_model_sha256). INVALID_ARGUMENT when the results do not match the spec's benchmarks.
  absl::StatusOr<EvaluationStep> RecordEvaluation(const ftd::v1::Job& job,
                                                  const ftd::v1::ReportMetricsRequest& request);

  // Ends `job_id`'s current attempt `attempt` with `error` (rank failure or loss): RESTARTING or FAILED per
  // DecideFailure, then aborts the other ranks. A job already past that attempt is left alone.
  absl::Status FailAttempt(absl::string_view job_id, int32_t attempt, ftd::v1::JobError error);

  CoordinatorStore& store_;
  JobEvents& events_;
  CoordinatorWorkerService& workers_;
  const std::function<absl::Time()> clock_;
  const JobRuntimeOptions options_;

  absl::Mutex mu_;
  // (job name, attempt, rank, phase: 0 training, else the EvaluationRole scored) -> highest batch_sequence applied.
  std::map<std::tuple<std::string, int32_t, int32_t, int>, int64_t> acked_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ftd
