// EarlyStopPolicy: the limit from the baseline, a run-length of evals over it, the best eval within it.
#include "common/early_stop.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace ftd {

absl::StatusOr<EarlyStopPolicy> EarlyStopPolicy::Create(const EarlyStopConfig& config) {
  if (!(config.general_ppl_max_rise > 0) || !std::isfinite(config.general_ppl_max_rise)) {
    return absl::InvalidArgumentError(
        absl::StrCat("early_stopping.general_ppl_max_rise: must be a finite number > 0, got ",
                     config.general_ppl_max_rise));
  }
  if (config.patience < 1) {
    return absl::InvalidArgumentError(absl::StrCat("early_stopping.patience: must be >= 1, got ", config.patience));
  }
  return EarlyStopPolicy(config);
}

absl::StatusOr<EarlyStopDecision> EarlyStopPolicy::Observe(const EvalPoint& eval) {
  if (!history_.empty() && eval.step <= history_.back().step) {
    return absl::InvalidArgumentError(absl::StrCat("early stop: eval at step ", eval.step,
                                                   " does not come after the last one (step ",
                                                   history_.back().step, ")"));
  }
  if (!limit_.has_value()) {
    if (!std::isfinite(eval.general_ppl) || eval.general_ppl <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("early stop: the baseline general perplexity must be finite and > 0, got ", eval.general_ppl));
    }
    limit_ = eval.general_ppl * (1.0 + config_.general_ppl_max_rise);
  }
  history_.push_back(eval);
  // NaN compares false, so `within` is false for a NaN perplexity: a diverged model is over the limit.
  const bool within = eval.general_ppl <= *limit_;
  consecutive_over_ = within ? 0 : consecutive_over_ + 1;
  if (within && std::isfinite(eval.task_val_loss) &&
      (!best_.has_value() || eval.task_val_loss < best_->task_val_loss)) {
    best_ = eval;
  }
  if (consecutive_over_ >= config_.patience) stopped_ = true;
  return stopped_ ? EarlyStopDecision::kStop : EarlyStopDecision::kContinue;
}

std::optional<double> EarlyStopPolicy::limit() const { return limit_; }

std::optional<EvalPoint> EarlyStopPolicy::best() const { return best_; }

}  // namespace ftd
