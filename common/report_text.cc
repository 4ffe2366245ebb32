// The words and numbers of a transfer report (see report_text.h for the precision rule).
#include "common/report_text.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ftd {
namespace {

// The C library prints NaN as "nan" or "-nan" depending on the sign bit; reports must not depend on that.
std::optional<std::string> NonFinite(double x) {
  if (std::isnan(x)) return std::string("nan");
  if (std::isinf(x)) return std::string(x > 0 ? "inf" : "-inf");
  return std::nullopt;
}

std::string DirectionArrow(MetricDirection d) { return d == MetricDirection::kHigherIsBetter ? "↑" : "↓"; }

std::string WithStderr(const MetricEstimate& e) {
  if (e.stderr_value == 0) return FormatValue(e.value);
  return absl::StrCat(FormatValue(e.value), " ± ", FormatValue(e.stderr_value));
}

std::string VerdictCell(const Judgement& j) {
  std::string out(BenchmarkVerdictName(j.verdict));
  if (j.verdict != BenchmarkVerdict::kInconclusive && j.basis == ThresholdBasis::kRelativeTolerance) {
    absl::StrAppend(&out, " (no stderr: ±0.5% tolerance)");
  }
  return out;
}

// Index of the smallest (or largest) finite value, or -1 when none is finite.
template <typename T, typename Get>
int64_t ArgExtreme(const std::vector<T>& v, Get get, bool largest) {
  int64_t best = -1;
  for (size_t i = 0; i < v.size(); ++i) {
    const double x = get(v[i]);
    if (!std::isfinite(x)) continue;
    // Strict comparison: ties go to the earliest point, as EarlyStopPolicy::best() does.
    if (best < 0 || (largest ? x > get(v[best]) : x < get(v[best]))) best = static_cast<int64_t>(i);
  }
  return best;
}

}  // namespace

std::string FormatValue(double x) {
  if (auto s = NonFinite(x)) return *s;
  std::string out = absl::StrFormat("%.4f", x);
  return out == "-0.0000" ? "0.0000" : out;
}

std::string FormatDelta(double x) {
  if (auto s = NonFinite(x)) return x > 0 ? "+inf" : *s;
  std::string out = absl::StrFormat("%+.4f", x);
  return (out == "-0.0000" || out == "+0.0000") ? "0.0000" : out;
}

std::string FormatRate(double x) {
  if (auto s = NonFinite(x)) return *s;
  return absl::StrFormat("%.2e", x);
}

std::string FormatTimestamp(const std::optional<absl::Time>& t) {
  if (!t.has_value()) return "unknown";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *t, absl::UTCTimeZone());
}

std::vector<BenchmarkComparison> TableComparisons(const TransferReport& report) {
  std::vector<BenchmarkComparison> rows = report.benchmarks;
  rows.insert(rows.end(), report.task_metrics.begin(), report.task_metrics.end());
  return rows;
}

TableRow BuildTableRow(const BenchmarkComparison& row) {
  const Judgement j = Judge(row);
  TableRow out;
  out.verdict = j.verdict;
  out.cells[0] = row.benchmark;
  out.cells[1] = absl::StrCat(row.metric, " ", DirectionArrow(row.direction));
  out.cells[2] = WithStderr(row.base);
  out.cells[3] = WithStderr(row.tuned);
  // A tolerance row has no se to show; the band it was judged against is the useful number instead.
  out.cells[4] = j.basis == ThresholdBasis::kRelativeTolerance && j.verdict != BenchmarkVerdict::kInconclusive
                     ? absl::StrCat(FormatDelta(j.delta), " (tolerance ", FormatValue(j.threshold), ")")
                     : absl::StrCat(FormatDelta(j.delta), " ± ", FormatValue(j.se));
  out.cells[5] = VerdictCell(j);
  return out;
}

std::string TaskGainLine(const std::optional<BenchmarkComparison>& task) {
  if (!task.has_value()) return "Task gain: no task metric.";
  const TableRow r = BuildTableRow(*task);
  return absl::StrCat("Task gain: ", r.cells[0], " (", r.cells[1], "): base ", r.cells[2], " → tuned ", r.cells[3],
                      ", delta ", r.cells[4], ": ", r.cells[5], ".");
}

std::string EarlyStopLine(const std::optional<EarlyStopRecord>& early_stop) {
  if (!early_stop.has_value()) return "Early stop: none.";
  return absl::StrCat("Early stop: at step ", early_stop->step, ", general perplexity ",
                      FormatValue(early_stop->general_ppl), " over the limit ", FormatValue(early_stop->limit),
                      "; kept the checkpoint of step ", early_stop->best_step, ".");
}

std::vector<std::string> CurveSummaryLines(const TrainingCurves& curves) {
  std::vector<std::string> lines;
  const auto& steps = curves.steps;
  if (steps.empty()) {
    lines.push_back("Training: no steps logged.");
  } else {
    std::string line = absl::StrCat("Training: ", steps.size(), " steps logged (steps ", steps.front().step, "–",
                                    steps.back().step, "); task loss ", FormatValue(steps.front().task_loss), " → ",
                                    FormatValue(steps.back().task_loss));
    const int64_t i = ArgExtreme(steps, [](const TrainStepPoint& p) { return p.task_loss; }, /*largest=*/false);
    if (i >= 0) absl::StrAppend(&line, " (min ", FormatValue(steps[i].task_loss), " at step ", steps[i].step, ")");
    lines.push_back(line + ".");

    std::string lr = "Learning rate: ";
    const int64_t k = ArgExtreme(steps, [](const TrainStepPoint& p) { return p.learning_rate; }, /*largest=*/true);
    if (k >= 0) absl::StrAppend(&lr, "peak ", FormatRate(steps[k].learning_rate), " at step ", steps[k].step, ", ");
    absl::StrAppend(&lr, "final ", FormatRate(steps.back().learning_rate), ".");
    lines.push_back(lr);
  }
  const auto& evals = curves.evals;
  if (evals.empty()) {
    lines.push_back("Evals: none.");
  } else {
    std::string line = absl::StrCat("Evals: ", evals.size(), " (steps ", evals.front().step, "–", evals.back().step,
                                    "); task val loss ", FormatValue(evals.front().task_val_loss), " → ",
                                    FormatValue(evals.back().task_val_loss));
    const int64_t b = ArgExtreme(evals, [](const EvalPoint& p) { return p.task_val_loss; }, /*largest=*/false);
    if (b >= 0) absl::StrAppend(&line, " (min ", FormatValue(evals[b].task_val_loss), " at step ", evals[b].step, ")");
    absl::StrAppend(&line, "; general perplexity ", FormatValue(evals.front().general_ppl), " → ",
                    FormatValue(evals.back().general_ppl));
    const int64_t m = ArgExtreme(evals, [](const EvalPoint& p) { return p.general_ppl; }, /*largest=*/true);
    if (m >= 0) absl::StrAppend(&line, " (max ", FormatValue(evals[m].general_ppl), " at step ", evals[m].step, ")");
    lines.push_back(line + ".");
  }
  return lines;
}

std::vector<std::pair<std::string, std::string>> ReportFacts(const TransferReport& report) {
  return {
      {"Job", report.job_name},
      {"Base model", report.base_model},
      {"Method", report.method},
      {"Created", FormatTimestamp(report.create_time)},
      {"Ended", FormatTimestamp(report.end_time)},
      {"Overall verdict", DescribeOverall(JudgeOverall(report))},
  };
}

}  // namespace ftd
