// The verdict rule of benchmark transfer: when a fine-tune improved, kept or lost a benchmark beyond noise, and the
// overall verdict of a report. Stated once here; the renderers print kVerdictRuleText and every caller (worker,
// coordinator, ftctl) calls these functions, so no two places can judge differently.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/transfer_report.h"

namespace ftd {

// THE RULE (kVerdictRuleText says it in one paragraph, printed under every report table):
//   gain  = tuned - base, sign-normalised so that positive is better (negated for lower-is-better metrics);
//   se    = sqrt(se_base^2 + se_tuned^2), the standard error of the difference of two independent estimates;
//           when base and tuned score the same items the scores are positively correlated and the true se is
//           smaller, so this se is conservative (fewer "improved"/"regressed" calls, never more);
//   improved  when gain >  1.96 se;  regressed (negative transfer) when gain < -1.96 se;  else neutral within noise.
//   Without a standard error (se == 0: neither side has one) the threshold is a relative tolerance of 0.5% of
//   |base| instead, and the row says so.
//   Inconclusive when a value or standard error is not finite, or a standard error is negative.
inline constexpr double kVerdictZ = 1.96;                   // Two-sided 95% under a normal approximation.
inline constexpr double kNoStderrRelativeTolerance = 0.005;  // 0.5% of |base|.
extern const absl::string_view kVerdictRuleText;

// Per benchmark (maps to ftd.v1.Verdict: IMPROVED, UNCHANGED, REGRESSED, INCONCLUSIVE).
enum class BenchmarkVerdict { kImproved, kNeutral, kRegressed, kInconclusive };

// What the threshold was computed from, so a reader can tell a noise-based call from a tolerance-based one.
enum class ThresholdBasis { kStderr, kRelativeTolerance };

struct Judgement {
  BenchmarkVerdict verdict = BenchmarkVerdict::kInconclusive;
  double delta = 0;      // tuned - base, raw (the wire form's MetricComparison.delta).
  double gain = 0;       // delta sign-normalised: positive is better.
  double se = 0;         // sqrt(se_base^2 + se_tuned^2) (the wire form's delta_stderr).
  double threshold = 0;  // kVerdictZ * se, or kNoStderrRelativeTolerance * |base|; what |gain| is compared with.
  ThresholdBasis basis = ThresholdBasis::kStderr;
};

// Applies THE RULE to one row. Never fails: malformed numbers are kInconclusive.
Judgement Judge(const BenchmarkComparison& row);

// "improved", "regressed (negative transfer)", "neutral within noise", "inconclusive".
absl::string_view BenchmarkVerdictName(BenchmarkVerdict verdict);

// The overall verdict: a closed set, decided in this order.
//   kTaskRegressed                    the task verdict is regressed (whatever the benchmarks did).
//   kTaskGainWithNegativeTransfer     task improved, >= 1 benchmark regressed (listed).
//   kNegativeTransferWithoutTaskGain  task not improved (neutral, inconclusive or absent), >= 1 benchmark
//                                     regressed (listed).
//   kNoTaskGain                       task neutral, no benchmark regressed.
//   kParetoImprovement                task improved, no benchmark regressed and none inconclusive.
//   kInconclusive                     no benchmark regressed, and: no task row, the task inconclusive, or the task
//                                     improved with >= 1 benchmark inconclusive (so "nothing regressed" cannot be
//                                     claimed).
// A regression found is reported even when other rows are inconclusive: one proven loss is enough to say so.
// The inconclusive list holds the task's key too when the task row is inconclusive.
enum class OverallVerdictKind {
  kParetoImprovement,
  kTaskGainWithNegativeTransfer,
  kNoTaskGain,
  kNegativeTransferWithoutTaskGain,
  kTaskRegressed,
  kInconclusive,
};

struct OverallVerdict {
  OverallVerdictKind kind = OverallVerdictKind::kInconclusive;
  // Benchmark display keys by verdict, in report order, each once (a benchmark of several metrics is named once).
  std::vector<std::string> regressed;
  std::vector<std::string> improved;
  std::vector<std::string> inconclusive;
  bool task_present = true;  // False when the report had no task row.
};

OverallVerdict JudgeOverall(const TransferReport& report);

// "Pareto improvement", "task gain with negative transfer", "negative transfer without task gain",
// "no task gain", "task regressed", "inconclusive".
absl::string_view OverallVerdictName(OverallVerdictKind kind);

// One line: the name, plus the regressed (or, for kInconclusive with a task gain, the inconclusive) benchmarks,
// e.g. "task gain with negative transfer: mmlu, hellaswag".
std::string DescribeOverall(const OverallVerdict& verdict);

}  // namespace ftd
