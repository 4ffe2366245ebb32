// WorkerMetrics: what `ftd-worker serve` exposes on its /metrics: ranks running and how they ended, report batches,
// checkpoint uploads, lost leases, and each running rank's latest training loss. A probe beside the agent; names
// per STYLE.md.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"

namespace ftd {

// Metrics:
//   ftd_worker_ranks_running                      gauge;
//   ftd_worker_rank_exits_total{result}           counter: done, early_stopped, failed, aborted;
//   ftd_worker_reports_total{result}              counter: ReportMetrics batches, ok / retried / dropped;
//   ftd_worker_checkpoint_upload_seconds          histogram, one upload (training checkpoint or final result);
//   ftd_worker_checkpoint_upload_bytes_total      counter;
//   ftd_worker_leases_lost_total                  counter;
//   ftd_worker_rank_train_loss{job_name,rank}          gauge, the rank's last step loss;
//   ftd_worker_devices{kind}                      gauge, devices registered: kind "cuda" (GPUs) or "cpu" (one slot);
//   ftd_worker_last_heartbeat_timestamp_seconds   gauge, Unix time of the last heartbeat the coordinator accepted
//                                                 (its age: time() - this);
//   ftd_worker_busy_seconds_total                 counter, wall time with at least one rank running (busy ratio:
//                                                 rate(ftd_worker_busy_seconds_total[5m])).
// Thread-safe. Lifecycle: Create over the registry the worker's HTTP server exposes; the registry outlives it.
class WorkerMetrics {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerMetrics>> Create(MetricsRegistry& registry);

  void RankStarted();
  // `result`: "done", "early_stopped", "failed" or "aborted".
  void RankEnded(absl::string_view result);
  void Report(absl::string_view result);
  void CheckpointUploaded(double seconds, double bytes);
  void LeaseLost() { leases_lost_->Increment(); }
  void TrainLoss(absl::string_view job, int rank, double loss);
  // What the worker registered with: its GPU count, or none for a CPU slot.
  void Registered(int gpus);
  void HeartbeatAccepted(double unix_seconds) { last_heartbeat_->Set(unix_seconds); }
  // Adds the busy time up to now to ftd_worker_busy_seconds_total while ranks run (rank ends add theirs too), so
  // the counter grows during long ranks; the agent calls it once a heartbeat round.
  void FlushBusy();

 private:
  WorkerMetrics() = default;
  Gauge* running_ = nullptr;
  CounterFamily* exits_ = nullptr;
  CounterFamily* reports_ = nullptr;
  Histogram* upload_seconds_ = nullptr;
  Counter* upload_bytes_ = nullptr;
  Counter* leases_lost_ = nullptr;
  GaugeFamily* train_loss_ = nullptr;
  Gauge* cuda_devices_ = nullptr;
  Gauge* cpu_devices_ = nullptr;
  Gauge* last_heartbeat_ = nullptr;
  Counter* busy_seconds_ = nullptr;
  absl::Mutex mu_;
  int ranks_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time busy_since_ ABSL_GUARDED_BY(mu_);  // Last time busy time was added, while ranks_ > 0.
};

}  // namespace ftd
