// Learning-rate schedules as transformers defines them (get_cosine_schedule_with_warmup,
// get_linear_schedule_with_warmup, get_constant_schedule_with_warmup): the lr an optimiser step uses.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"

namespace ftd {

enum class LrSchedule { kCosine, kLinear, kConstant };

struct LrScheduleConfig {
  LrSchedule kind = LrSchedule::kCosine;
  double peak_lr = 2e-4;       // The lr after warmup.
  int64_t warmup_steps = 0;    // Steps of linear warmup from 0.
  int64_t total_steps = 1;     // Optimiser steps in the run; decay reaches 0 here (cosine, linear).
};

// Validates the config (peak_lr > 0 and finite, 0 <= warmup_steps, total_steps >= 1) and returns it.
absl::StatusOr<LrScheduleConfig> CheckLrSchedule(const LrScheduleConfig& config);

// The lr of optimiser step `step` (0-based: the first step is 0), as the HF scheduler's lr_lambda(step) *
// peak_lr: warmup step/warmup_steps, then cosine 0.5 * (1 + cos(pi * progress)), linear
// (total - step) / (total - warmup), or constant 1; never below 0.
double LearningRate(const LrScheduleConfig& config, int64_t step);

}  // namespace ftd
