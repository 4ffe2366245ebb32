// LearningRate: the three HF schedules, written from their lr_lambda definitions.
#include "worker/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace ftd {

absl::StatusOr<LrScheduleConfig> CheckLrSchedule(const LrScheduleConfig& config) {
  if (!(config.peak_lr > 0) || !std::isfinite(config.peak_lr)) {
    return absl::InvalidArgumentError(absl::StrCat("learning_rate: must be > 0 and finite, got ", config.peak_lr));
  }
  if (config.warmup_steps < 0) {
    return absl::InvalidArgumentError(absl::StrCat("warmup_steps: must be >= 0, got ", config.warmup_steps));
  }
  if (config.total_steps < 1) {
    return absl::InvalidArgumentError(absl::StrCat("total steps: must be >= 1, got ", config.total_steps));
  }
  return config;
}

double LearningRate(const LrScheduleConfig& config, int64_t step) {
  const double warmup = static_cast<double>(config.warmup_steps);
  if (step < config.warmup_steps) return config.peak_lr * static_cast<double>(step) / std::max(1.0, warmup);
  double factor = 1.0;
  const double remaining = static_cast<double>(config.total_steps - config.warmup_steps);
  switch (config.kind) {
    case LrSchedule::kConstant:
      factor = 1.0;
      break;
    case LrSchedule::kLinear:
      factor = std::max(0.0, static_cast<double>(config.total_steps - step) / std::max(1.0, remaining));
      break;
    case LrSchedule::kCosine: {
      const double progress = static_cast<double>(step - config.warmup_steps) / std::max(1.0, remaining);
      factor = std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
      break;
    }
  }
  return config.peak_lr * factor;
}

}  // namespace ftd
