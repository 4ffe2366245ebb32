// The early-stop guardrail of a fine-tuning job (DESIGN.md, issue 5): every eval reports the task validation loss
// and the general perplexity on held-out general text; the run stops when the general perplexity stays above
// baseline x (1 + general_ppl_max_rise) for `patience` consecutive evals, the baseline being the first eval's (step
// 0, before any update). The result of a stopped run is its best eval: the lowest task validation loss among the
// evals within the limit. Pure logic with no model dependency, so the trainer and the coordinator run the same code.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"

namespace ftd {

struct EarlyStopConfig {
  double general_ppl_max_rise = 0.1;  // The job spec's defaults.
  int patience = 2;
};

struct EvalPoint {
  int64_t step = 0;            // Optimiser steps taken when the eval ran.
  double task_val_loss = 0;    // Mean token loss on the task's validation split.
  double general_ppl = 0;      // Perplexity on the general eval text.
};

enum class EarlyStopDecision { kContinue, kStop };

// Fed every eval in order. Its state is a function of the evals seen, so a resumed run rebuilds it by feeding the
// evals recorded before the checkpoint again. Not thread-safe.
class EarlyStopPolicy {
 public:
  // INVALID_ARGUMENT unless general_ppl_max_rise > 0 (finite) and patience >= 1.
  static absl::StatusOr<EarlyStopPolicy> Create(const EarlyStopConfig& config);

  // Records `eval`. The first one is the baseline and must have a finite perplexity > 0; later ones must come at
  // strictly later steps. A NaN or infinite perplexity (a diverged model) counts as over the limit, and a
  // non-finite task loss is never the best. Returns kStop once `patience` consecutive evals are over the limit
  // (and from then on); INVALID_ARGUMENT for an out-of-order or malformed eval, which is not recorded.
  absl::StatusOr<EarlyStopDecision> Observe(const EvalPoint& eval);

  // baseline x (1 + general_ppl_max_rise); nullopt before the baseline.
  std::optional<double> limit() const;
  // The lowest task validation loss among the evals within the limit (ties: the earliest); nullopt when none.
  std::optional<EvalPoint> best() const;
  // Evals over the limit in a row, up to the last one.
  int consecutive_over() const { return consecutive_over_; }
  bool stopped() const { return stopped_; }
  const std::vector<EvalPoint>& history() const { return history_; }

 private:
  explicit EarlyStopPolicy(const EarlyStopConfig& config) : config_(config) {}

  EarlyStopConfig config_;
  std::vector<EvalPoint> history_;
  std::optional<double> limit_;
  std::optional<EvalPoint> best_;
  int consecutive_over_ = 0;
  bool stopped_ = false;
};

}  // namespace ftd
