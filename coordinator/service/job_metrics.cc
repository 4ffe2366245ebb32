// JobMetrics: families made once, per-job children resolved on first use.
#include "coordinator/service/job_metrics.h"

#include <optional>
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
  ASSIGN_OR_RETURN(m->mfu_, registry.AddGauge("ftd_job_mfu_ratio",
                                              "Model FLOPs utilisation of the last step against the device's "
                                              "nominal peak (rank 0).",
                                              {"job_name"}));
  ASSIGN_OR_RETURN(m->memory_peak_, registry.AddGauge("ftd_job_device_memory_peak_bytes",
                                                      "Most device memory held at once by rank 0's backend.",
                                                      {"job_name"}));
  ASSIGN_OR_RETURN(m->allreduce_seconds_, registry.AddCounter("ftd_job_allreduce_seconds_total",
                                                              "Seconds rank 0 spent summing gradients across ranks.",
                                                              {"job_name"}));
  ASSIGN_OR_RETURN(m->data_wait_seconds_, registry.AddCounter("ftd_job_data_wait_seconds_total",
                                                              "Seconds rank 0 spent assembling micro-batches.",
                                                              {"job_name"}));
  ASSIGN_OR_RETURN(m->general_perplexity_limit_,
                   registry.AddGauge("ftd_job_general_perplexity_limit",
                                     "The early-stop threshold on general perplexity (baseline x (1 + max rise)).",
                                     {"job_name"}));
  ASSIGN_OR_RETURN(m->benchmark_value_,
                   registry.AddGauge("ftd_job_benchmark_value",
                                     "A transfer-report row's value on the base or the tuned model, in its metric's "
                                     "units.",
                                     {"job_name", "benchmark", "metric", "model"}));
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
  const auto extra = [&](const char* key) -> std::optional<double> {
    const auto it = sample.extra().find(key);
    return it == sample.extra().end() ? std::nullopt : std::optional<double>(it->second);
  };
  if (std::optional<double> seconds = extra("step_seconds")) set(step_seconds_, *seconds);
  if (std::optional<double> mfu = extra("mfu")) set(mfu_, *mfu);
  if (std::optional<double> peak = extra("device_memory_peak_bytes")) set(memory_peak_, *peak);
  if (std::optional<double> limit = extra("general_ppl_limit")) set(general_perplexity_limit_, *limit);
  const std::optional<double> allreduce = extra("allreduce_seconds");
  const std::optional<double> data_wait = extra("data_seconds");
  if (!sample.has_tokens_seen() && !allreduce.has_value() && !data_wait.has_value()) return;
  absl::MutexLock lock(&mu_);
  if (sample.has_tokens_seen()) {
    int64_t& seen = tokens_seen_[std::string(job)];
    if (sample.tokens_seen() > seen) {
      if (Counter* tokens = ChildOrNull(tokens_, labels); tokens != nullptr) {
        tokens->Increment(static_cast<double>(sample.tokens_seen() - seen));
      }
      seen = sample.tokens_seen();
    }
  }
  // A step's seconds count once: a re-sent report or a step re-run after a resume adds nothing.
  int64_t& timed = timed_step_[std::string(job)];
  if ((allreduce.has_value() || data_wait.has_value()) && sample.step() > timed) {
    timed = sample.step();
    const auto add = [&](CounterFamily* family, std::optional<double> seconds) {
      if (!seconds.has_value() || *seconds < 0) return;
      if (Counter* counter = ChildOrNull(family, labels); counter != nullptr) counter->Increment(*seconds);
    };
    add(allreduce_seconds_, allreduce);
    add(data_wait_seconds_, data_wait);
  }
}

void JobMetrics::Finished(v1::JobState state) {
  std::string result = v1::JobState_Name(state);
  if (result.rfind("JOB_STATE_", 0) == 0) result = result.substr(10);
  if (Counter* counter = ChildOrNull(finished_, {result}); counter != nullptr) counter->Increment();
}

void JobMetrics::Transferred(absl::string_view job, const v1::TransferReport& report) {
  for (const v1::MetricComparison& row : report.comparisons()) {
    for (const auto& [model, value] : {std::pair<const char*, double>{"base", row.base_value()},
                                       std::pair<const char*, double>{"tuned", row.tuned_value()}}) {
      if (Gauge* gauge = ChildOrNull(benchmark_value_, {std::string(job), row.benchmark(), row.metric(), model});
          gauge != nullptr) {
        gauge->Set(value);
      }
    }
  }
}

void JobMetrics::EarlyStopped(absl::string_view reason) {
  if (Counter* counter = ChildOrNull(early_stops_, {std::string(reason)}); counter != nullptr) counter->Increment();
}

void JobMetrics::CheckpointStored(double seconds, double bytes) {
  upload_seconds_->Observe(seconds);
  checkpoint_bytes_->Increment(bytes);
}

}  // namespace ftd
