// JobMetrics: the probe the coordinator's job machinery reports through (ranks' samples, restarts, finishes, early
// stops, checkpoint uploads, queue waits, scheduling cycles, submissions), kept beside the code it measures and
// exposed by the daemon's /metrics. Names per STYLE.md: ftd_<subsystem>_<name>_<unit>.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics/metrics.h"
#include "ftd/v1/job.pb.h"
#include "ftd/v1/metrics.pb.h"

namespace ftd {

// Metrics:
//   ftd_job_train_loss{job_name}, ftd_job_eval_loss, ftd_job_general_perplexity, ftd_job_learning_rate,
//   ftd_job_grad_norm, ftd_job_step_seconds             gauges, the job's latest rank-0 values (job_name="jobs/ft-..."
//                                                       : not "job", which Prometheus sets to the scrape job);
//   ftd_job_tokens_total{job_name}                      counter, training tokens over all ranks;
//   ftd_coordinator_jobs_submitted_total                counter;
//   ftd_coordinator_jobs_finished_total{result}         counter, SUCCEEDED / FAILED / CANCELLED / EARLY_STOPPED;
//   ftd_coordinator_job_restarts_total                  counter;
//   ftd_coordinator_early_stops_total{reason}           counter;
//   ftd_coordinator_checkpoint_upload_seconds           histogram, one PutCheckpoint from first byte to commit;
//   ftd_coordinator_checkpoint_bytes_total              counter, checkpoint bytes stored;
//   ftd_coordinator_job_queue_wait_seconds              histogram, QUEUED to SCHEDULED;
//   ftd_coordinator_scheduling_cycle_seconds            histogram, one SchedulingLoop::RunCycle.
// Per-job series stay for the daemon's lifetime (one set per job: a coordinator holds thousands, not millions).
//
// Thread-safe; every method may be called from any thread. Lifecycle: Create over the daemon's registry, which must
// outlive it.
class JobMetrics {
 public:
  static absl::StatusOr<std::unique_ptr<JobMetrics>> Create(MetricsRegistry& registry);

  void Sample(absl::string_view job, const ftd::v1::MetricsSample& sample);
  void Submitted() { submitted_->Increment(); }
  void Finished(ftd::v1::JobState state);
  void Restarted() { restarts_->Increment(); }
  void EarlyStopped(absl::string_view reason);
  void CheckpointStored(double seconds, double bytes);
  void QueueWait(double seconds) { queue_wait_->Observe(seconds); }
  void SchedulingCycle(double seconds) { cycle_->Observe(seconds); }

 private:
  JobMetrics() = default;

  GaugeFamily* train_loss_ = nullptr;
  GaugeFamily* eval_loss_ = nullptr;
  GaugeFamily* general_perplexity_ = nullptr;
  GaugeFamily* learning_rate_ = nullptr;
  GaugeFamily* grad_norm_ = nullptr;
  GaugeFamily* step_seconds_ = nullptr;
  CounterFamily* tokens_ = nullptr;
  Counter* submitted_ = nullptr;
  CounterFamily* finished_ = nullptr;
  Counter* restarts_ = nullptr;
  CounterFamily* early_stops_ = nullptr;
  Histogram* upload_seconds_ = nullptr;
  Counter* checkpoint_bytes_ = nullptr;
  Histogram* queue_wait_ = nullptr;
  Histogram* cycle_ = nullptr;

  absl::Mutex mu_;
  std::map<std::string, int64_t> tokens_seen_ ABSL_GUARDED_BY(mu_);  // Job -> the last cumulative tokens_seen.
};

}  // namespace ftd
