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
#include "ftd/v1/eval.pb.h"
#include "ftd/v1/job.pb.h"
#include "ftd/v1/metrics.pb.h"

namespace ftd {

// Metrics:
//   ftd_job_train_loss{job_name}, ftd_job_eval_loss, ftd_job_general_perplexity, ftd_job_learning_rate,
//   ftd_job_grad_norm, ftd_job_step_seconds             gauges, the job's latest rank-0 values (job_name="jobs/ft-..."
//                                                       : not "job", which Prometheus sets to the scrape job);
//   ftd_job_tokens_total{job_name}                      counter, training tokens over all ranks;
//   ftd_job_mfu_ratio{job_name}                         gauge, rank 0's model FLOPs utilisation of the last step
//                                                       (against its device's nominal peak: train --peak-flops);
//   ftd_job_device_memory_peak_bytes{job_name}          gauge, rank 0's backend allocation peak so far;
//   ftd_job_allreduce_seconds_total{job_name}           counter, rank 0's seconds summing gradients across ranks;
//   ftd_job_data_wait_seconds_total{job_name}           counter, rank 0's seconds assembling micro-batches (their
//                                                       rates over rate(ftd_job_step_seconds...) are shares of the
//                                                       wall time); steps re-run after a resume are not re-counted;
//   ftd_job_general_perplexity_limit{job_name}          gauge, the early-stop threshold (baseline x (1 + max rise));
//   ftd_job_benchmark_value{job_name,benchmark,metric,model}
//                                                       gauge, each transfer-report row's base and tuned value
//                                                       (model="base" | "tuned"; benchmark as the report names it);
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
  // The job's transfer report, once stored: its rows become benchmark gauges.
  void Transferred(absl::string_view job, const ftd::v1::TransferReport& report);
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
  GaugeFamily* mfu_ = nullptr;
  GaugeFamily* memory_peak_ = nullptr;
  CounterFamily* allreduce_seconds_ = nullptr;
  CounterFamily* data_wait_seconds_ = nullptr;
  GaugeFamily* general_perplexity_limit_ = nullptr;
  GaugeFamily* benchmark_value_ = nullptr;
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
  std::map<std::string, int64_t> timed_step_ ABSL_GUARDED_BY(mu_);   // Job -> the last step whose seconds counted.
};

}  // namespace ftd
