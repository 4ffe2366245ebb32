// The transfer report of a fine-tuning job as plain structs: per benchmark base vs tuned with standard errors, the
// task gain, the training curves and the early stop. No protobuf here: the service converts ftd.v1.TransferReport
// to and from these, so ftctl, the coordinator and the worker judge and render one model of the report.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/early_stop.h"

namespace ftd {

// Which way a metric is good (ftd.v1.MetricDirection without UNSPECIFIED: a report row must say).
enum class MetricDirection { kHigherIsBetter, kLowerIsBetter };

// One model's score on one metric. `stderr_value` is the standard error of `value` (0 when the metric has none;
// named so because `stderr` is a macro of <cstdio>).
struct MetricEstimate {
  double value = 0;
  double stderr_value = 0;
};

// One metric of one benchmark, base vs tuned (ftd.v1.MetricComparison before the verdict is attached). The task
// gain uses the same struct, so the same verdict rule judges the task and every benchmark.
struct BenchmarkComparison {
  std::string benchmark;  // Display key, e.g. "mmlu", "perplexity/wikitext", "long_context@8192".
  std::string suite;      // "mmlu", "hellaswag", "perplexity", "long_context", "task".
  std::string metric;     // lm-eval's name ("acc", "acc_norm", "word_perplexity") or ours ("task_loss").
  MetricDirection direction = MetricDirection::kHigherIsBetter;
  MetricEstimate base;
  MetricEstimate tuned;
  int64_t n = 0;  // Items (documents for perplexity) the metric is computed over, the same on both sides.
};

// One optimiser step of the training curve.
struct TrainStepPoint {
  int64_t step = 0;
  double task_loss = 0;      // Mean token loss of the step's batch.
  double learning_rate = 0;  // The scheduler's rate used for the step.
};

// The curves of the run: every logged step, and every eval (the same EvalPoint the early-stop policy is fed).
// Both in step order.
struct TrainingCurves {
  std::vector<TrainStepPoint> steps;
  std::vector<EvalPoint> evals;
  // The guardrail's general-perplexity limit (EarlyStopPolicy::limit()) whether or not it tripped; nullopt when
  // the job ran without the guardrail.
  std::optional<double> general_ppl_limit;
};

// Why the run stopped early: the eval that tripped the guardrail and the limit it was over.
struct EarlyStopRecord {
  int64_t step = 0;         // The eval step at which the policy returned kStop.
  double general_ppl = 0;   // That eval's general perplexity.
  double limit = 0;         // baseline x (1 + general_ppl_max_rise).
  int64_t best_step = 0;    // The eval whose checkpoint was kept (EarlyStopPolicy::best()).
};

struct TransferReport {
  std::string job_name;    // "jobs/{job}".
  std::string base_model;  // Base model directory the baseline was scored on.
  std::string method;      // "lora" | "qlora" | "full".
  std::optional<absl::Time> create_time;  // Job submitted.
  std::optional<absl::Time> end_time;     // Report built.
  // The task metric, base vs tuned; nullopt when the job had no task benchmark (the overall verdict then says
  // inconclusive, never "Pareto").
  std::optional<BenchmarkComparison> task;
  std::vector<BenchmarkComparison> benchmarks;  // General-capability rows, in display order.
  // Every metric of the task benchmark ("acc", "macro_f1", ...), `task` first; shown in the table after the
  // benchmarks. Only `task` enters the overall verdict.
  std::vector<BenchmarkComparison> task_metrics;
  // Caveats on how a benchmark was scored (e.g. HellaSwag from its 6-line text form), printed under the table.
  std::vector<std::string> notes;
  TrainingCurves curves;
  std::optional<EarlyStopRecord> early_stop;  // nullopt when the run was not stopped early.
};

}  // namespace ftd
