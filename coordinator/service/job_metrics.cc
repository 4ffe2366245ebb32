// JobMetrics: families made once, per-job children resolved on first use.
#include "coordinator/service/job_metrics.h"

#include <utility>

#include "common/status_macros.h"

namespace ftd {
namespace {

template <typename T>
T* Child(MetricFamily<T>* family, const std::vector<std::string>& labels) {
  absl::StatusOr<T*> child = family->WithLabels(labels);
  return child.ok() ? *child : nullptr;  // Label counts are fixed here, so this cannot fail.
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobMetrics>> JobMetrics::Create(MetricsRegistry& registry) {
  std::unique_ptr<JobMetrics> m(new JobMetrics());
  ASSIGN_OR_RETURN(m->train_loss_, registry.AddGauge("ftd_job_train_loss", "Latest training loss (nats/token).",
                                                     {"job"}));
  ASSIGN_OR_RETURN(m->eval_loss_, registry.AddGauge("ftd_job_eval_loss", "Latest task validation loss (nats/token).",
                                                    {"job"}));
  ASSIGN_OR_RETURN(m->general_perplexity_, registry.AddGauge("ftd_job_general_perplexity",
                                                             "Latest general-text perplexity (the guardrail).",
                                                             {"job"}));
  ASSIGN_OR_RETURN(m->learning_rate_, registry.AddGauge("ftd_job_learning_rate", "Learning rate of the last step.",
                                                        {"job"}));
  ASSIGN_OR_RETURN(m->grad_norm_, registry.AddGauge("ftd_job_grad_norm", "Gradient L2 norm of the last step.",
                                                    {"job"}));
  ASSIGN_OR_RETURN(m->step_seconds_, registry.AddGauge("ftd_job_step_seconds", "Wall time of the last step.",
                                                       {"job"}));
  ASSIGN_OR_RETURN(m->tokens_, registry.AddCounter("ftd_job_tokens_total", "Training tokens over all ranks.",
                                                   {"job"}));
  ASSIGN_OR_RETURN(CounterFamily * submitted,
                   registry.AddCounter("ftd_coordinator_jobs_submitted_total", "Jobs accepted by SubmitJob.", {}));
  m->submitted_ = Child(submitted, {});
  ASSIGN_OR_RETURN(m->finished_, registry.AddCounter("ftd_coordinator_jobs_finished_total",
                                                     "Jobs that reached a terminal state, by result.", {"result"}));
  ASSIGN_OR_RETURN(CounterFamily * restarts, registry.AddCounter("ftd_coordinator_job_restarts_total",
                                                                 "Attempts ended by a lost rank and re-queued.", {}));
  m->restarts_ = Child(restarts, {});
  ASSIGN_OR_RETURN(m->early_stops_, registry.AddCounter("ftd_coordinator_early_stops_total",
                                                        "Jobs stopped early by the guardrail, by reason.",
                                                        {"reason"}));
  ASSIGN_OR_RETURN(HistogramFamily * upload,
                   registry.AddHistogram("ftd_coordinator_checkpoint_upload_seconds",
                                         "Checkpoint uploads, first byte to committed manifest.", {},
                                         ExponentialBuckets(0.01, 2, 14)));
  m->upload_seconds_ = Child(upload, {});
  ASSIGN_OR_RETURN(CounterFamily * bytes, registry.AddCounter("ftd_coordinator_checkpoint_bytes_total",
                                                              "Checkpoint bytes stored.", {}));
  m->checkpoint_bytes_ = Child(bytes, {});
  ASSIGN_OR_RETURN(HistogramFamily * wait, registry.AddHistogram("ftd_coordinator_job_queue_wait_seconds",
                                                                 "Time from QUEUED to SCHEDULED.", {},
                                                                 ExponentialBuckets(0.01, 2, 20)));
  m->queue_wait_ = Child(wait, {});
  ASSIGN_OR_RETURN(HistogramFamily * cycle, registry.AddHistogram("ftd_coordinator_scheduling_cycle_seconds",
                                                                  "One scheduling cycle.", {},
                                                                  ExponentialBuckets(0.0001, 2, 18)));
  m->cycle_ = Child(cycle, {});
  return m;
}

JobMetrics::JobSeries* JobMetrics::Series(absl::string_view job) {
  auto it = jobs_.find(job);
  if (it != jobs_.end()) return &it->second;
  const std::vector<std::string> labels = {std::string(job)};
  JobSeries series;
  series.train_loss = Child(train_loss_, labels);
  series.eval_loss = Child(eval_loss_, labels);
  series.general_perplexity = Child(general_perplexity_, labels);
  series.learning_rate = Child(learning_rate_, labels);
  series.grad_norm = Child(grad_norm_, labels);
  series.step_seconds = Child(step_seconds_, labels);
  series.tokens = Child(tokens_, labels);
  return &jobs_.emplace(std::string(job), series).first->second;
}

void JobMetrics::Sample(absl::string_view job, const v1::MetricsSample& sample) {
  absl::MutexLock lock(&mu_);
  JobSeries& s = *Series(job);
  if (sample.has_train_loss()) s.train_loss->Set(sample.train_loss());
  if (sample.has_eval_task_loss()) s.eval_loss->Set(sample.eval_task_loss());
  if (sample.has_eval_general_perplexity()) s.general_perplexity->Set(sample.eval_general_perplexity());
  if (sample.has_learning_rate()) s.learning_rate->Set(sample.learning_rate());
  if (sample.has_grad_norm()) s.grad_norm->Set(sample.grad_norm());
  if (auto seconds = sample.extra().find("step_seconds"); seconds != sample.extra().end()) {
    s.step_seconds->Set(seconds->second);
  }
  if (sample.has_tokens_seen() && sample.tokens_seen() > s.tokens_seen) {
    s.tokens->Increment(static_cast<double>(sample.tokens_seen() - s.tokens_seen));
    s.tokens_seen = sample.tokens_seen();
  }
}

void JobMetrics::Finished(v1::JobState state) {
  std::string result = v1::JobState_Name(state);
  if (result.rfind("JOB_STATE_", 0) == 0) result = result.substr(10);
  if (Counter* counter = Child(finished_, {result}); counter != nullptr) counter->Increment();
}

void JobMetrics::EarlyStopped(absl::string_view reason) {
  if (Counter* counter = Child(early_stops_, {std::string(reason)}); counter != nullptr) counter->Increment();
}

void JobMetrics::CheckpointStored(double seconds, double bytes) {
  upload_seconds_->Observe(seconds);
  checkpoint_bytes_->Increment(bytes);
}

}  // namespace ftd
