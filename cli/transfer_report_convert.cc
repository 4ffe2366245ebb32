// ftd.v1.TransferReport + Job + JobEvents -> ftd::TransferReport (see transfer_report_convert.h).
#include "cli/transfer_report_convert.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "ftd/v1/job_spec.pb.h"

namespace ftd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string MethodName(v1::Method method) {
  switch (method) {
    case v1::METHOD_LORA: return "lora";
    case v1::METHOD_QLORA: return "qlora";
    case v1::METHOD_FULL: return "full";
    default: return "unspecified";
  }
}

// The metric `name` of the result of `suite` at `context_length` whose value is `value`; nullptr when none. The
// value disambiguates two results of one suite (two perplexity files): the builder copies it into the row.
const v1::MetricValue* FindMetric(const google::protobuf::RepeatedPtrField<v1::BenchmarkResult>& results,
                                  v1::BenchmarkSuite suite, int32_t context_length, const std::string& name,
                                  double value) {
  for (const v1::BenchmarkResult& result : results) {
    if (result.benchmark().suite() != suite || result.context_length() != context_length) continue;
    for (const v1::MetricValue& metric : result.metrics()) {
      if (metric.metric() == name && (metric.value() == value || (std::isnan(value) && std::isnan(metric.value())))) {
        return &metric;
      }
    }
  }
  return nullptr;
}

MetricDirection DirectionOf(v1::MetricDirection direction, const v1::MetricValue* base, const v1::MetricValue* tuned,
                            const std::string& metric) {
  for (const v1::MetricValue* found : {base, tuned}) {
    if (direction != v1::METRIC_DIRECTION_UNSPECIFIED) break;
    if (found != nullptr) direction = found->direction();
  }
  switch (direction) {
    case v1::METRIC_DIRECTION_HIGHER_IS_BETTER: return MetricDirection::kHigherIsBetter;
    case v1::METRIC_DIRECTION_LOWER_IS_BETTER: return MetricDirection::kLowerIsBetter;
    default: break;
  }
  const bool lower = absl::StrContains(metric, "perplexity") || absl::StrContains(metric, "bits_per_byte") ||
                     absl::StrContains(metric, "loss");
  return lower ? MetricDirection::kLowerIsBetter : MetricDirection::kHigherIsBetter;
}

// The side's stderr from its result (0 when that result has none), or the even split of delta_stderr.
double SideStderr(const v1::MetricValue* found, double delta_stderr) {
  if (found != nullptr) return found->has_stderr() ? found->stderr() : 0;
  return delta_stderr / std::sqrt(2.0);
}

// The step number ending a checkpoint name "jobs/x/checkpoints/step-00000020"; 0 when it has none.
int64_t StepInCheckpointName(absl::string_view name) {
  const size_t dash = name.rfind('-');
  int64_t step = 0;
  if (dash == absl::string_view::npos || !absl::SimpleAtoi(name.substr(dash + 1), &step)) return 0;
  return step;
}

bool FromRankZero(const v1::MetricsSample& sample) { return !sample.has_rank() || sample.rank() == 0; }

}  // namespace

std::string SuiteName(v1::BenchmarkSuite suite) {
  return absl::AsciiStrToLower(absl::StripPrefix(v1::BenchmarkSuite_Name(suite), "BENCHMARK_SUITE_"));
}

BenchmarkComparison ComparisonFromProto(const v1::MetricComparison& row, const v1::TransferReport& report) {
  const v1::MetricValue* base =
      FindMetric(report.base_results(), row.suite(), row.context_length(), row.metric(), row.base_value());
  const v1::MetricValue* tuned =
      FindMetric(report.tuned_results(), row.suite(), row.context_length(), row.metric(), row.tuned_value());
  BenchmarkComparison out;
  out.benchmark = row.benchmark().empty() ? SuiteName(row.suite()) : row.benchmark();
  if (row.context_length() > 0 && !absl::StrContains(out.benchmark, '@')) {
    absl::StrAppend(&out.benchmark, "@", row.context_length());
  }
  out.suite = SuiteName(row.suite());
  out.metric = row.metric();
  out.direction = DirectionOf(row.direction(), base, tuned, row.metric());
  out.base = {row.base_value(), SideStderr(base, row.delta_stderr())};
  out.tuned = {row.tuned_value(), SideStderr(tuned, row.delta_stderr())};
  out.n = row.n();
  return out;
}

TrainingCurves CurvesFromEvents(const v1::Job& job, absl::Span<const v1::JobEvent> events) {
  // By sequence (stable: events without one keep their order), so "the later sample" of a repeated step is the one
  // recorded later whatever order the events came in.
  std::vector<const v1::JobEvent*> by_sequence;
  for (const v1::JobEvent& event : events) by_sequence.push_back(&event);
  std::stable_sort(by_sequence.begin(), by_sequence.end(),
                   [](const v1::JobEvent* a, const v1::JobEvent* b) { return a->sequence() < b->sequence(); });

  std::map<int64_t, TrainStepPoint> steps;
  std::map<int64_t, EvalPoint> evals;
  std::optional<double> early_stop_limit;
  for (const v1::JobEvent* event : by_sequence) {
    if (event->has_early_stop()) early_stop_limit = event->early_stop().limit();
    if (!event->has_metrics() || !FromRankZero(event->metrics())) continue;
    const v1::MetricsSample& sample = event->metrics();
    if (sample.has_train_loss()) {
      steps[sample.step()] = {sample.step(), sample.train_loss(),
                              sample.has_learning_rate() ? sample.learning_rate() : kNaN};
    }
    if (sample.has_eval_task_loss() || sample.has_eval_general_perplexity()) {
      evals[sample.step()] = {sample.step(), sample.has_eval_task_loss() ? sample.eval_task_loss() : kNaN,
                              sample.has_eval_general_perplexity() ? sample.eval_general_perplexity() : kNaN};
    }
  }

  TrainingCurves curves;
  for (auto& [step, point] : steps) curves.steps.push_back(point);
  for (auto& [step, point] : evals) curves.evals.push_back(point);
  const v1::JobSpec& spec = job.resolved_spec();
  if (early_stop_limit.has_value()) {
    curves.general_ppl_limit = early_stop_limit;
  } else if (spec.has_early_stopping() && job.progress().has_base_general_perplexity()) {
    const double rise = spec.early_stopping().has_general_ppl_max_rise()
                            ? spec.early_stopping().general_ppl_max_rise()
                            : EarlyStopConfig().general_ppl_max_rise;
    curves.general_ppl_limit = job.progress().base_general_perplexity() * (1 + rise);
  }
  return curves;
}

std::optional<EarlyStopRecord> EarlyStopFromEvents(absl::Span<const v1::JobEvent> events) {
  const v1::JobEvent* fired = nullptr;
  for (const v1::JobEvent& event : events) {
    if (event.has_early_stop() && (fired == nullptr || event.sequence() > fired->sequence())) fired = &event;
  }
  if (fired == nullptr) return std::nullopt;
  const v1::EarlyStop& stop = fired->early_stop();
  EarlyStopRecord record;
  record.step = stop.step();
  record.general_ppl = stop.general_perplexity();
  record.limit = stop.limit();
  record.best_step = StepInCheckpointName(stop.best_checkpoint());
  for (const v1::JobEvent& event : events) {
    if (event.has_checkpoint_saved() && event.checkpoint_saved().checkpoint().name() == stop.best_checkpoint()) {
      record.best_step = event.checkpoint_saved().checkpoint().step();
    }
  }
  return record;
}

TransferReport TransferReportFromProto(const v1::TransferReport& report, const v1::Job& job,
                                       absl::Span<const v1::JobEvent> events) {
  TransferReport out;
  out.job_name = job.name();
  out.base_model = report.base_model().empty() ? job.resolved_spec().base_model() : report.base_model();
  out.method = MethodName(job.resolved_spec().method());
  if (job.has_create_time()) out.create_time = FromProto(job.create_time());
  if (report.has_create_time()) out.end_time = FromProto(report.create_time());
  for (const v1::MetricComparison& row : report.comparisons()) {
    if (row.suite() != v1::BENCHMARK_SUITE_TASK) {
      out.benchmarks.push_back(ComparisonFromProto(row, report));
      continue;
    }
    out.task_metrics.push_back(ComparisonFromProto(row, report));
    if (!out.task.has_value()) out.task = out.task_metrics.back();  // The task benchmark's first metric: acc.
  }
  for (const v1::BenchmarkResult& result : report.tuned_results()) {
    const v1::Benchmark& benchmark = result.benchmark();
    if (benchmark.suite() == v1::BENCHMARK_SUITE_HELLASWAG && !absl::EndsWith(benchmark.path(), ".jsonl")) {
      out.notes.push_back(absl::StrCat(
          "hellaswag was scored from the 6-line text form (", benchmark.path(),
          "): its contexts lack lm-eval's ctx_b capitalisation, so these numbers are not comparable to published "
          "HellaSwag scores (base and tuned are scored alike, so the comparison holds)."));
    }
  }
  if (job.resolved_spec().method() == v1::METHOD_QLORA) {
    // The worker scores a qlora result with --quantize-base (worker/service/worker_agent.cc), its baseline as
    // stored: so the rows measure adapter and quantisation together.
    out.notes.push_back(absl::StrCat(
        "method qlora: the tuned model is scored as trained (its adapter on the base model NF4-quantised, ",
        job.resolved_spec().bnb_4bit_use_double_quant() ? "with double quantisation" : "fp32 absmax",
        "); the base model as stored (unquantised, unless base_model is itself a 4-bit directory), so the "
        "differences include the quantisation."));
  }
  out.curves = CurvesFromEvents(job, events);
  out.early_stop = EarlyStopFromEvents(events);
  return out;
}

}  // namespace ftd
