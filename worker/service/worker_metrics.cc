// WorkerMetrics: families made once; labelled children looked up per event (the registry caches them).
#include "worker/service/worker_metrics.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ftd {
absl::StatusOr<std::unique_ptr<WorkerMetrics>> WorkerMetrics::Create(MetricsRegistry& registry) {
  std::unique_ptr<WorkerMetrics> m(new WorkerMetrics());
  ASSIGN_OR_RETURN(GaugeFamily * running, registry.AddGauge("ftd_worker_ranks_running", "Ranks running.", {}));
  m->running_ = ChildOrNull(running, {});
  ASSIGN_OR_RETURN(m->exits_, registry.AddCounter("ftd_worker_rank_exits_total", "Ranks ended, by result.",
                                                  {"result"}));
  ASSIGN_OR_RETURN(m->reports_, registry.AddCounter("ftd_worker_reports_total",
                                                    "ReportMetrics batches, by result (ok, retried, dropped).",
                                                    {"result"}));
  ASSIGN_OR_RETURN(HistogramFamily * upload,
                   registry.AddHistogram("ftd_worker_checkpoint_upload_seconds", "One checkpoint or result upload.",
                                         {}, ExponentialBuckets(0.01, 2, 14)));
  m->upload_seconds_ = ChildOrNull(upload, {});
  ASSIGN_OR_RETURN(CounterFamily * bytes, registry.AddCounter("ftd_worker_checkpoint_upload_bytes_total",
                                                              "Checkpoint and result bytes uploaded.", {}));
  m->upload_bytes_ = ChildOrNull(bytes, {});
  ASSIGN_OR_RETURN(CounterFamily * lost, registry.AddCounter("ftd_worker_leases_lost_total",
                                                             "Times the coordinator said this worker's lease was gone.",
                                                             {}));
  m->leases_lost_ = ChildOrNull(lost, {});
  ASSIGN_OR_RETURN(m->train_loss_, registry.AddGauge("ftd_worker_rank_train_loss",
                                                     "The rank's last training-step loss (nats/token).",
                                                     {"job_name", "rank"}));
  ASSIGN_OR_RETURN(GaugeFamily * devices, registry.AddGauge("ftd_worker_devices",
                                                           "Devices registered, by kind (cuda GPUs, or one cpu slot).",
                                                           {"kind"}));
  m->cuda_devices_ = ChildOrNull(devices, {"cuda"});
  m->cpu_devices_ = ChildOrNull(devices, {"cpu"});
  ASSIGN_OR_RETURN(GaugeFamily * heartbeat,
                   registry.AddGauge("ftd_worker_last_heartbeat_timestamp_seconds",
                                     "Unix time of the last heartbeat the coordinator accepted.", {}));
  m->last_heartbeat_ = ChildOrNull(heartbeat, {});
  ASSIGN_OR_RETURN(CounterFamily * busy, registry.AddCounter("ftd_worker_busy_seconds_total",
                                                             "Wall time with at least one rank running.", {}));
  m->busy_seconds_ = ChildOrNull(busy, {});
  return m;
}

void WorkerMetrics::Registered(int gpus) {
  cuda_devices_->Set(gpus);
  cpu_devices_->Set(gpus == 0 ? 1 : 0);
}

void WorkerMetrics::RankStarted() {
  running_->Increment();
  absl::MutexLock lock(&mu_);
  if (ranks_++ == 0) busy_since_ = absl::Now();
}

void WorkerMetrics::FlushBusy() {
  absl::MutexLock lock(&mu_);
  if (ranks_ == 0) return;
  const absl::Time now = absl::Now();
  busy_seconds_->Increment(absl::ToDoubleSeconds(now - busy_since_));
  busy_since_ = now;
}

void WorkerMetrics::RankEnded(absl::string_view result) {
  running_->Decrement();
  {
    absl::MutexLock lock(&mu_);
    if (ranks_ > 0 && --ranks_ == 0) {
      const absl::Time now = absl::Now();
      busy_seconds_->Increment(absl::ToDoubleSeconds(now - busy_since_));
      busy_since_ = now;
    }
  }
  if (Counter* counter = ChildOrNull(exits_, {std::string(result)}); counter != nullptr) counter->Increment();
}

void WorkerMetrics::Report(absl::string_view result) {
  if (Counter* counter = ChildOrNull(reports_, {std::string(result)}); counter != nullptr) counter->Increment();
}

void WorkerMetrics::CheckpointUploaded(double seconds, double bytes) {
  upload_seconds_->Observe(seconds);
  upload_bytes_->Increment(bytes);
}

void WorkerMetrics::TrainLoss(absl::string_view job, int rank, double loss) {
  if (Gauge* gauge = ChildOrNull(train_loss_, {std::string(job), absl::StrCat(rank)}); gauge != nullptr) gauge->Set(loss);
}

}  // namespace ftd
