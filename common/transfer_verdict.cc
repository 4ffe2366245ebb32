// The verdict rule of benchmark transfer (see transfer_verdict.h for the rule itself).
#include "common/transfer_verdict.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ftd {

const absl::string_view kVerdictRuleText =
    "Rule: gain = tuned - base, sign-normalised so positive is better; se = sqrt(se_base^2 + se_tuned^2) "
    "(independent samples; when base and tuned score the same items this is conservative). "
    "Improved when gain > 1.96 se, regressed (negative transfer) when gain < -1.96 se, else neutral within noise. "
    "Rows without a standard error (se = 0) use a relative tolerance of 0.5% of |base| instead and say so. "
    "Inconclusive when a value or standard error is not finite or negative.";

Judgement Judge(const BenchmarkComparison& row) {
  Judgement j;
  j.delta = row.tuned.value - row.base.value;
  j.gain = row.direction == MetricDirection::kHigherIsBetter ? j.delta : -j.delta;
  const double se_base = row.base.stderr_value;
  const double se_tuned = row.tuned.stderr_value;
  // std::hypot would avoid overflow, but plain sqrt of the sum is the formula the rule states and the wire form
  // documents; standard errors are never near DBL_MAX.
  j.se = std::sqrt(se_base * se_base + se_tuned * se_tuned);
  const bool finite = std::isfinite(row.base.value) && std::isfinite(row.tuned.value) && std::isfinite(se_base) &&
                      std::isfinite(se_tuned);
  if (!finite || se_base < 0 || se_tuned < 0) {
    j.verdict = BenchmarkVerdict::kInconclusive;
    return j;
  }
  if (j.se > 0) {
    j.basis = ThresholdBasis::kStderr;
    j.threshold = kVerdictZ * j.se;
  } else {
    // No noise estimate at all: a fixed relative band keeps float jitter from being called a change. With base 0
    // the band is empty and any change counts, which is the honest reading of "relative".
    j.basis = ThresholdBasis::kRelativeTolerance;
    j.threshold = kNoStderrRelativeTolerance * std::fabs(row.base.value);
  }
  // Strict inequalities: a gain exactly at the threshold is not significant.
  if (j.gain > j.threshold) {
    j.verdict = BenchmarkVerdict::kImproved;
  } else if (j.gain < -j.threshold) {
    j.verdict = BenchmarkVerdict::kRegressed;
  } else {
    j.verdict = BenchmarkVerdict::kNeutral;
  }
  return j;
}

absl::string_view BenchmarkVerdictName(BenchmarkVerdict verdict) {
  switch (verdict) {
    case BenchmarkVerdict::kImproved:
      return "improved";
    case BenchmarkVerdict::kNeutral:
      return "neutral within noise";
    case BenchmarkVerdict::kRegressed:
      return "regressed (negative transfer)";
    case BenchmarkVerdict::kInconclusive:
      return "inconclusive";
  }
  return "inconclusive";  // Unreachable for a valid enum; keeps -Wreturn-type quiet.
}

OverallVerdict JudgeOverall(const TransferReport& report) {
  OverallVerdict out;
  // A benchmark with several metrics that went the same way is named once.
  const auto add = [](std::vector<std::string>& names, const std::string& name) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  };
  for (const BenchmarkComparison& row : report.benchmarks) {
    switch (Judge(row).verdict) {
      case BenchmarkVerdict::kImproved:
        add(out.improved, row.benchmark);
        break;
      case BenchmarkVerdict::kRegressed:
        add(out.regressed, row.benchmark);
        break;
      case BenchmarkVerdict::kInconclusive:
        add(out.inconclusive, row.benchmark);
        break;
      case BenchmarkVerdict::kNeutral:
        break;
    }
  }
  const bool any_regressed = !out.regressed.empty();
  if (!report.task.has_value()) {
    out.task_present = false;
    out.kind = any_regressed ? OverallVerdictKind::kNegativeTransferWithoutTaskGain : OverallVerdictKind::kInconclusive;
    return out;
  }
  switch (Judge(*report.task).verdict) {
    case BenchmarkVerdict::kRegressed:
      out.kind = OverallVerdictKind::kTaskRegressed;
      break;
    case BenchmarkVerdict::kImproved:
      if (any_regressed) {
        out.kind = OverallVerdictKind::kTaskGainWithNegativeTransfer;
      } else {
        out.kind = out.inconclusive.empty() ? OverallVerdictKind::kParetoImprovement : OverallVerdictKind::kInconclusive;
      }
      break;
    case BenchmarkVerdict::kNeutral:
      out.kind = any_regressed ? OverallVerdictKind::kNegativeTransferWithoutTaskGain : OverallVerdictKind::kNoTaskGain;
      break;
    case BenchmarkVerdict::kInconclusive:
      out.inconclusive.insert(out.inconclusive.begin(), report.task->benchmark);
      out.kind = any_regressed ? OverallVerdictKind::kNegativeTransferWithoutTaskGain : OverallVerdictKind::kInconclusive;
      break;
  }
  return out;
}

absl::string_view OverallVerdictName(OverallVerdictKind kind) {
  switch (kind) {
    case OverallVerdictKind::kParetoImprovement:
      return "Pareto improvement";
    case OverallVerdictKind::kTaskGainWithNegativeTransfer:
      return "task gain with negative transfer";
    case OverallVerdictKind::kNoTaskGain:
      return "no task gain";
    case OverallVerdictKind::kNegativeTransferWithoutTaskGain:
      return "negative transfer without task gain";
    case OverallVerdictKind::kTaskRegressed:
      return "task regressed";
    case OverallVerdictKind::kInconclusive:
      return "inconclusive";
  }
  return "inconclusive";
}

std::string DescribeOverall(const OverallVerdict& verdict) {
  std::string out(OverallVerdictName(verdict.kind));
  switch (verdict.kind) {
    case OverallVerdictKind::kTaskGainWithNegativeTransfer:
    case OverallVerdictKind::kNegativeTransferWithoutTaskGain:
      absl::StrAppend(&out, ": ", absl::StrJoin(verdict.regressed, ", "));
      break;
    case OverallVerdictKind::kTaskRegressed:
      if (!verdict.regressed.empty()) {
        absl::StrAppend(&out, "; also regressed: ", absl::StrJoin(verdict.regressed, ", "));
      }
      break;
    case OverallVerdictKind::kInconclusive:
      if (!verdict.task_present) {
        absl::StrAppend(&out, ": no task metric");
        if (!verdict.inconclusive.empty()) absl::StrAppend(&out, "; also ", absl::StrJoin(verdict.inconclusive, ", "));
      } else {
        absl::StrAppend(&out, ": ", absl::StrJoin(verdict.inconclusive, ", "));
      }
      break;
    case OverallVerdictKind::kParetoImprovement:
    case OverallVerdictKind::kNoTaskGain:
      break;
  }
  return out;
}

}  // namespace ftd
