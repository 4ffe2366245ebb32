// BuildTransferReport: base vs tuned per metric through the shared verdict rule.
#include "coordinator/service/transfer_report_builder.h"

#include <filesystem>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/transfer_verdict.h"
#include "coordinator/service/evaluation_jobs.h"
#include "coordinator/service/job_updates.h"

namespace ftd {
namespace {

std::string SuiteName(v1::BenchmarkSuite suite) {
  std::string name = v1::BenchmarkSuite_Name(suite);
  constexpr absl::string_view kPrefix = "BENCHMARK_SUITE_";
  if (absl::StartsWith(name, kPrefix)) name = name.substr(kPrefix.size());
  return absl::AsciiStrToLower(name);
}

// "mmlu", "perplexity/wikitext-2-raw-test": suite plus the data file's stem where a suite may run on many files.
std::string DisplayKey(const v1::Benchmark& benchmark) {
  const std::string suite = SuiteName(benchmark.suite());
  if (benchmark.suite() == v1::BENCHMARK_SUITE_PERPLEXITY || benchmark.suite() == v1::BENCHMARK_SUITE_TASK) {
    const std::filesystem::path path(benchmark.path());
    const std::string stem = path.filename().empty() ? path.parent_path().filename().string() : path.stem().string();
    if (!stem.empty()) return absl::StrCat(suite, "/", stem);
  }
  return suite;
}

// 256 for long_context's per-length metric "acc@256"; 0 for any other metric.
int32_t ContextLengthOf(absl::string_view metric) {
  int32_t length = 0;
  if (!absl::ConsumePrefix(&metric, "acc@") || !absl::SimpleAtoi(metric, &length)) return 0;
  return length;
}

v1::Verdict ToProto(BenchmarkVerdict verdict) {
  switch (verdict) {
    case BenchmarkVerdict::kImproved:
      return v1::VERDICT_IMPROVED;
    case BenchmarkVerdict::kNeutral:
      return v1::VERDICT_UNCHANGED;
    case BenchmarkVerdict::kRegressed:
      return v1::VERDICT_REGRESSED;
    case BenchmarkVerdict::kInconclusive:
      return v1::VERDICT_INCONCLUSIVE;
  }
  return v1::VERDICT_INCONCLUSIVE;
}

}  // namespace

absl::StatusOr<v1::TransferReport> BuildTransferReport(const v1::Job& job, const std::vector<v1::BenchmarkResult>& base,
                                                       const std::vector<v1::BenchmarkResult>& tuned, absl::Time now) {
  const int count = job.resolved_spec().benchmarks_size();
  if (static_cast<int>(base.size()) != count || static_cast<int>(tuned.size()) != count) {
    return absl::InvalidArgumentError(absl::StrCat("transfer report of ", job.name(), ": ", count, " benchmarks but ",
                                                   base.size(), " base and ", tuned.size(), " tuned results"));
  }
  v1::TransferReport report;
  const absl::string_view id = absl::StripPrefix(job.name(), "jobs/");
  report.set_name(absl::StrCat(job.has_evaluation() ? EvaluationName(id) : job.name(), "/transferReport"));
  report.set_base_model(DescribeTarget(EvaluationTargetFor(job, v1::EVALUATION_ROLE_BASE)));
  *report.mutable_tuned() = EvaluationTargetFor(job, v1::EVALUATION_ROLE_TUNED);
  *report.mutable_create_time() = ToProtoTime(now);
  report.set_z(kVerdictZ);
  report.set_min_items(0);
  bool any_regressed = false, task_improved = false, any_conclusive = false;
  for (int i = 0; i < count; ++i) {
    const v1::Benchmark& benchmark = job.resolved_spec().benchmarks(i);
    *report.add_base_results() = base[static_cast<size_t>(i)];
    *report.add_tuned_results() = tuned[static_cast<size_t>(i)];
    for (const v1::MetricValue& t : tuned[static_cast<size_t>(i)].metrics()) {
      const v1::MetricValue* b = nullptr;
      for (const v1::MetricValue& candidate : base[static_cast<size_t>(i)].metrics()) {
        if (candidate.metric() == t.metric()) b = &candidate;
      }
      if (b == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("transfer report of ", job.name(), ": benchmark ", i,
                                                       " metric ", t.metric(), " has no base value"));
      }
      BenchmarkComparison row;
      row.benchmark = DisplayKey(benchmark);
      row.suite = SuiteName(benchmark.suite());
      row.metric = t.metric();
      row.direction = t.direction() == v1::METRIC_DIRECTION_LOWER_IS_BETTER ? MetricDirection::kLowerIsBetter
                                                                            : MetricDirection::kHigherIsBetter;
      row.base = {b->value(), b->has_stderr() ? b->stderr() : 0.0};
      row.tuned = {t.value(), t.has_stderr() ? t.stderr() : 0.0};
      row.n = t.n();
      const Judgement judgement = Judge(row);
      v1::MetricComparison& comparison = *report.add_comparisons();
      comparison.set_benchmark(row.benchmark);
      comparison.set_suite(benchmark.suite());
      comparison.set_context_length(ContextLengthOf(t.metric()));
      comparison.set_metric(t.metric());
      comparison.set_direction(t.direction());
      comparison.set_base_value(b->value());
      comparison.set_tuned_value(t.value());
      comparison.set_delta(judgement.delta);
      comparison.set_delta_stderr(judgement.se);
      comparison.set_stderr_method(t.stderr_method());
      comparison.set_n(t.n());
      comparison.set_verdict(ToProto(judgement.verdict));
      if (judgement.verdict != BenchmarkVerdict::kInconclusive) any_conclusive = true;
      if (benchmark.suite() == v1::BENCHMARK_SUITE_TASK) {
        task_improved = task_improved || judgement.verdict == BenchmarkVerdict::kImproved;
      } else {
        any_regressed = any_regressed || judgement.verdict == BenchmarkVerdict::kRegressed;
      }
    }
  }
  // eval.proto's rule for the overall verdict.
  if (!any_conclusive) {
    report.set_overall_verdict(v1::VERDICT_INCONCLUSIVE);
  } else if (any_regressed) {
    report.set_overall_verdict(v1::VERDICT_REGRESSED);
  } else if (task_improved) {
    report.set_overall_verdict(v1::VERDICT_IMPROVED);
  } else {
    report.set_overall_verdict(v1::VERDICT_UNCHANGED);
  }
  return report;
}

}  // namespace ftd
