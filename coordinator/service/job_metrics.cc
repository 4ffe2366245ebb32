// JobMetrics: families made once, per-job children resolved on first use.
#include "coordinator/service/job_metrics.h"

#include <utility>

#include "common/status_macros.h"

namespace ftd {
absl::StatusOr<std::unique_ptr<JobMetrics>> JobMetrics::Create(MetricsRegistry& registry) {
  std::unique_ptr<JobMetrics> m(new JobMetrics());
  ASSIGN_OR_RETURN(m->train_loss_, registry.AddGauge("ftd_job_train_loss", "Latest training loss (nats/token).",
                                                     {"job_name"}));
  ASSIGN_OR_RETURN(m->eval_loss_, registry.AddGauge("ftd_job_eval_loss", "Latest task validation loss (nats/token).",
                                                    {"job_name"}));
  ASSIGN_OR_RETURN(m->general_perplexity_, registry.AddGauge("ftd_job_general_perplexity",
                                                             "Latest general-text perplexity (the guardrail).",
                                                             {"job_name"}));
  ASSIGN_OR_RETURN(m->learning_rate_, registry.AddGauge("ftd_job_learning_rate", "Learning rate of the last step.",
                                                        {"job_name"}));
  ASSIGN_OR_RETURN(m->grad_norm_, registry.AddGauge("ftd_job_grad_norm", "Gradient L2 norm of the last step.",
                                                    {"job_name"}));
  ASSIGN_OR_RETURN(m->step_seconds_, registry.AddGauge("ftd_job_step_seconds", "Wall time of the last step.",
                                                       {"job_name"}));
  ASSIGN_OR_RETURN(m->tokens_, registry.AddCounter("ftd_job_tokens_total", "Training tokens over all ranks.",
                                                   {"job_name"}));
  ASSIGN_OR_RETURN(CounterFamily * submitted,
                   registry.AddCounter("ftd_coordinator_jobs_submitted_total", "Jobs accepted by SubmitJob.", {}));
  m->submitted_ = ChildOrNull(submitted, {});
  ASSIGN_OR_RETURN(m->finished_, registry.AddCounter("ftd_coordinator_jobs_finished_total",
                                                     "Jobs that reached a terminal state, by result.", {"result"}));
  ASSIGN_OR_RETURN(CounterFamily * restarts, registry.AddCounter("ftd_coordinator_job_restarts_total",
                                                                 "Attempts ended by a lost rank and re-queued.", {}));
  m->restarts_ = ChildOrNull(restarts, {});
  ASSIGN_OR_RETURN(m->early_stops_, registry.AddCounter("ftd_coordinator_early_stops_total",
                                                        "Jobs stopped early by the guardrail, by reason.",
                                                        {"reason"}));
  ASSIGN_OR_RETURN(HistogramFamily * upload,
                   registry.AddHistogram("ftd_coordinator_checkpoint_upload_seconds",
                                         "Checkpoint uploads, first byte to committed manifest.", {},
                                         ExponentialBuckets(0.01, 2, 14)));
  m->upload_seconds_ = ChildOrNull(upload, {});
  ASSIGN_OR_RETURN(CounterFamily * bytes, registry.AddCounter("ftd_coordinator_checkpoint_bytes_total",
                                                              "Checkpoint bytes stored.", {}));
  m->checkpoint_bytes_ = ChildOrNull(bytes, {});
  ASSIGN_OR_RETURN(HistogramFamily * wait, registry.AddHistogram("ftd_coordinator_job_queue_wait_seconds",
                                                                 "Time from QUEUED to SCHEDULED.", {},
                                                                 ExponentialBuckets(0.01, 2, 20)));
  m->queue_wait_ = ChildOrNull(wait, {});
  ASSIGN_OR_RETURN(HistogramFamily * cycle, registry.AddHistogram("ftd_coordinator_scheduling_cycle_seconds",
                                                                  "One scheduling cycle.", {},
                                                                  ExponentialBuckets(0.0001, 2, 18)));
  m->cycle_ = ChildOrNull(cycle, {});
  return m;
}

void JobMetrics::Sample(absl::string_view job, const v1::MetricsSample& sample) {
  // Children are made on first use, so a value a job never reported (no evals) is absent, not a misleading 0.
  const std::vector<std::string> labels = {std::string(job)};
  auto set = [&](GaugeFamily* family, double value) {
    if (Gauge* gauge = ChildOrNull(family, labels); gauge != nullptr) gauge->Set(value);
  };
  if (sample.has_train_loss()) set(train_loss_, sample.train_loss());
  if (sample.has_eval_task_loss()) set(eval_loss_, sample.eval_task_loss());
  if (sample.has_eval_general_perplexity()) set(general_perplexity_, sample.eval_general_perplexity());
  if (sample.has_learning_rate()) set(learning_rate_, sample.learning_rate());
  if (sample.has_grad_norm()) set(grad_norm_, sample.grad_norm());
  if (auto seconds = sample.extra().find("step_seconds"); seconds != sample.extra().end()) {
    set(step_seconds_, seconds->second);
  }
  if (!sample.has_tokens_seen()) return;
  absl::MutexLock lock(&mu_);
  int64_t& seen = tokens_seen_[std::string(job)];
  if (sample.tokens_seen() > seen) {
    if (Counter* tokens = ChildOrNull(tokens_, labels); tokens != nullptr) {
      tokens->Increment(static_cast<double>(sample.tokens_seen() - seen));
    }
    seen = sample.tokens_seen();
  }
}

void JobMetrics::Finished(v1::JobState state) {
  std::string result = v1::JobState_Name(state);
  if (result.rfind("JOB_STATE_", 0) == 0) result = result.substr(10);
  if (Counter* counter = ChildOrNull(finished_, {result}); counter != nullptr) counter->Increment();
}

void JobMetrics::EarlyStopped(absl::string_view reason) {
  if (Counter* counter = ChildOrNull(early_stops_, {std::string(reason)}); counter != nullptr) counter->Increment();
}

void JobMetrics::CheckpointStored(double seconds, double bytes) {
  upload_seconds_->Observe(seconds);
  checkpoint_bytes_->Increment(bytes);
}

}  // namespace ftd
