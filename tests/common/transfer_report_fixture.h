// A small, fully specified transfer report for the renderer tests: two improved/neutral rows, one regressed row,
// one row without a stderr, a malicious benchmark name, curves and an early stop. Numbers chosen so every
// rendered value is exact at 4 decimals.
#pragma once

#include "absl/time/time.h"
#include "common/transfer_report.h"

namespace ftd::testing {

inline BenchmarkComparison Row(const char* name, const char* suite, const char* metric, MetricDirection d,
                               double base, double base_se, double tuned, double tuned_se, int64_t n) {
  BenchmarkComparison r;
  r.benchmark = name;
  r.suite = suite;
  r.metric = metric;
  r.direction = d;
  r.base = {base, base_se};
  r.tuned = {tuned, tuned_se};
  r.n = n;
  return r;
}

inline TransferReport SampleReport() {
  TransferReport r;
  r.job_name = "jobs/sft-\"demo\"";
  r.base_model = "/models/SmolLM2-135M";
  r.method = "lora";
  r.create_time = absl::FromUnixSeconds(1767323045);  // 2026-01-02T03:04:05Z
  r.end_time = absl::FromUnixSeconds(1767326645);     // 2026-01-02T04:04:05Z
  r.task = Row("task", "task", "task_loss", MetricDirection::kLowerIsBetter, 2.5, 0.03, 2.0, 0.04, 200);
  r.benchmarks = {
      // se 0.05, threshold 0.098: gain -0.125 -> regressed.
      Row("mmlu", "mmlu", "acc", MetricDirection::kHigherIsBetter, 0.5, 0.03, 0.375, 0.04, 1000),
      // gain 0.0625 within 0.098 -> neutral.
      Row("hellaswag", "hellaswag", "acc_norm", MetricDirection::kHigherIsBetter, 0.5, 0.03, 0.5625, 0.04, 1000),
      // No stderr: tolerance 0.5% of 16 = 0.08; delta 16.5 - 16 = +0.5 on a lower-is-better metric -> regressed.
      Row("perplexity/wikitext", "perplexity", "word_perplexity", MetricDirection::kLowerIsBetter, 16.0, 0, 16.5, 0,
          62),
      Row("<script>alert(1)</script>", "long_context", "retrieval_acc", MetricDirection::kHigherIsBetter, 0.75, 0.0,
          0.75, 0.0, 40),
  };
  for (int64_t s = 1; s <= 4; ++s) {
    r.curves.steps.push_back({s * 50, 3.0 - 0.25 * static_cast<double>(s), 1e-4 * static_cast<double>(5 - s)});
  }
  r.curves.evals = {{0, 2.75, 20.0}, {100, 2.5, 21.0}, {200, 2.25, 23.0}};
  r.curves.general_ppl_limit = 22.0;
  r.early_stop = EarlyStopRecord{200, 23.0, 22.0, 100};
  return r;
}

}  // namespace ftd::testing
