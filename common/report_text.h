// The words and numbers of a transfer report, built once and shared by the Markdown and HTML renderers so the two
// can never print different numbers. Strings here are unescaped: each renderer escapes for its own format.
//
// PRECISION RULE (every number in a rendered report goes through one of these):
//   metric values, standard errors, deltas, losses, perplexities, limits: fixed 4 decimals ("%.4f"); accuracies
//     are ratios in [0, 1], so 4 decimals show a 0.01-point change, and one rule for every metric keeps a column
//     aligned. Deltas carry an explicit sign ("+0.0123", "-0.0123"); a value that rounds to zero prints
//     "0.0000" (never "-0.0000").
//   learning rates: scientific with 2 decimals ("%.2e", "2.00e-04"): they span orders of magnitude.
//   steps and item counts: integers. Times: RFC 3339 in UTC ("2026-01-02T03:04:05Z").
//   non-finite: "nan", "inf", "-inf" (the C library's spelling varies, e.g. "-nan").
#pragma once

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/transfer_report.h"
#include "common/transfer_verdict.h"

namespace ftd {

std::string FormatValue(double x);  // "%.4f".
std::string FormatDelta(double x);  // "%+.4f", with "0.0000" for a value that rounds to zero.
std::string FormatRate(double x);   // "%.2e".
// RFC 3339 UTC, or "unknown". (Not "FormatTime": with an absl::Time argument ADL would pick absl::FormatTime.)
std::string FormatTimestamp(const std::optional<absl::Time>& t);

// The rows of the benchmark table: the general-capability benchmarks, then the task's metrics.
std::vector<BenchmarkComparison> TableComparisons(const TransferReport& report);

// The benchmark table: one header, one row per benchmark.
inline constexpr std::array<absl::string_view, 6> kTableHeader = {"benchmark", "metric",     "base ± se",
                                                                 "tuned ± se", "delta ± se", "verdict"};

struct TableRow {
  std::array<std::string, 6> cells;  // In kTableHeader order.
  BenchmarkVerdict verdict = BenchmarkVerdict::kInconclusive;
};

// Cells: the key; the metric with its direction ("acc ↑", "word_perplexity ↓"); "value ± se" per side ("value"
// alone when that side has no stderr); "delta ± se" with delta = tuned - base raw (the arrow says which way is
// good), or "delta (tolerance t)" when judged by the no-stderr tolerance; the verdict name, with " (no stderr: ±0.5% tolerance)" when the threshold came from the tolerance.
TableRow BuildTableRow(const BenchmarkComparison& row);

// "Task gain: {key} ({metric} ↓): base B ± s → tuned T ± s, delta D ± s: {verdict}." or "Task gain: no task metric."
std::string TaskGainLine(const std::optional<BenchmarkComparison>& task);

// "Early stop: at step S, general perplexity P over the limit L; kept the checkpoint of step B." or
// "Early stop: none."
std::string EarlyStopLine(const std::optional<EarlyStopRecord>& early_stop);

// A few lines on the curves: steps logged and task loss first -> last (min), evals and their val loss and
// perplexity first -> last (best / max), learning-rate peak and final. Non-finite values print as they are but
// never win a min or max.
std::vector<std::string> CurveSummaryLines(const TrainingCurves& curves);

// The report's identity and overall verdict as (label, value) pairs: Job, Base model, Method, Created, Ended,
// Overall verdict.
std::vector<std::pair<std::string, std::string>> ReportFacts(const TransferReport& report);

}  // namespace ftd
