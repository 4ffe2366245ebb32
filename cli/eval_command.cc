// ftctl eval / ftctl evaluation: flags -> RunEvaluationRequest, polling GetEvaluation, the evaluation printed.
#include "cli/eval_command.h"

#include <ostream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "cli/job_format.h"
#include "common/status_macros.h"
#include "proto/evaluation_target_text.h"

namespace ftd {
namespace {

constexpr absl::string_view kEvaluationPrefix = "evaluations/";

std::string EvaluationResourceName(absl::string_view name) {
  if (absl::StartsWith(name, kEvaluationPrefix)) return std::string(name);
  return absl::StrCat(kEvaluationPrefix, name);
}

std::string StateName(v1::EvaluationState state) {
  return std::string(absl::StripPrefix(v1::EvaluationState_Name(state), "EVALUATION_STATE_"));
}

bool IsTerminal(v1::EvaluationState state) {
  return state == v1::EVALUATION_STATE_SUCCEEDED || state == v1::EVALUATION_STATE_FAILED ||
         state == v1::EVALUATION_STATE_CANCELLED;
}

// "piqa" for BENCHMARK_SUITE_PIQA, plus the data file's name where a suite runs on many files.
std::string BenchmarkLabel(const v1::Benchmark& benchmark) {
  std::string suite = absl::AsciiStrToLower(absl::StripPrefix(v1::BenchmarkSuite_Name(benchmark.suite()),
                                                              "BENCHMARK_SUITE_"));
  if (benchmark.path().empty()) return suite;
  const size_t slash = benchmark.path().find_last_of('/');
  return absl::StrCat(suite, " (", slash == std::string::npos ? benchmark.path() : benchmark.path().substr(slash + 1),
                      ")");
}

absl::Status Print(const v1::Evaluation& evaluation, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) {
    ASSIGN_OR_RETURN(const std::string json, ToJson(evaluation, JsonLayout::kIndented));
    out << json << '\n';
  } else {
    out << FormatEvaluation(evaluation);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::RunEvaluationRequest> BuildEvaluationRequest(const EvalOptions& options) {
  v1::RunEvaluationRequest request;
  if (!options.model.empty() && !options.job.empty()) {
    return absl::InvalidArgumentError("--model and --job: give one target, not both");
  }
  if (!options.adapter.empty() && options.model.empty()) {
    return absl::InvalidArgumentError("--adapter: needs --model, the adapter's base model");
  }
  if (!options.job.empty()) {
    request.mutable_target()->set_checkpoint(
        absl::StartsWith(options.job, "jobs/") ? options.job : absl::StrCat("jobs/", options.job));
  } else if (!options.adapter.empty()) {
    request.mutable_target()->mutable_adapter()->set_base_model(options.model);
    request.mutable_target()->mutable_adapter()->set_adapter_path(options.adapter);
  } else if (!options.model.empty()) {
    request.mutable_target()->set_model_path(options.model);
  } else {
    return absl::InvalidArgumentError("a target is required: --model DIR [--adapter DIR] or --job JOB");
  }
  if (!options.baseline.empty()) request.mutable_baseline()->set_model_path(options.baseline);
  if (options.benchmarks.empty()) {
    return absl::InvalidArgumentError("--benchmark SUITE=PATH: at least one is required");
  }
  for (const std::string& spec : options.benchmarks) {
    const size_t equals = spec.find('=');
    const std::string suite_name = spec.substr(0, equals);
    v1::BenchmarkSuite suite = v1::BENCHMARK_SUITE_UNSPECIFIED;
    if (suite_name.empty() ||
        !v1::BenchmarkSuite_Parse(absl::StrCat("BENCHMARK_SUITE_", absl::AsciiStrToUpper(suite_name)), &suite) ||
        suite == v1::BENCHMARK_SUITE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--benchmark \"", spec, "\": want SUITE=PATH, SUITE one of mmlu, hellaswag, piqa, perplexity, task, "
                                  "long_context"));
    }
    v1::Benchmark& benchmark = *request.add_benchmarks();
    benchmark.set_suite(suite);
    if (equals != std::string::npos) benchmark.set_path(spec.substr(equals + 1));
    if (options.limit > 0) benchmark.set_limit(options.limit);
    if (options.num_fewshot > 0) benchmark.set_num_fewshot(options.num_fewshot);
    if (suite == v1::BENCHMARK_SUITE_LONG_CONTEXT) {
      for (int32_t length : options.context_lengths) benchmark.add_context_lengths(length);
    }
  }
  v1::Device device = v1::DEVICE_UNSPECIFIED;
  if (!v1::Device_Parse(absl::StrCat("DEVICE_", absl::AsciiStrToUpper(options.device)), &device) ||
      device == v1::DEVICE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat("--device \"", options.device, "\": want cuda or cpu"));
  }
  request.set_device(device);
  request.set_request_id(options.request_id);
  return request;
}

absl::StatusOr<v1::Evaluation> EvalRun(JobClient& client, const EvalOptions& options, OutputFormat format,
                                       std::ostream& out) {
  ASSIGN_OR_RETURN(const v1::RunEvaluationRequest request, BuildEvaluationRequest(options));
  ASSIGN_OR_RETURN(v1::Evaluation evaluation, client.RunEvaluation(request));
  if (!options.wait) {
    if (format == OutputFormat::kJson) {
      RETURN_IF_ERROR(Print(evaluation, format, out));
    } else {
      out << evaluation.name() << '\n';
    }
    return evaluation;
  }
  v1::GetEvaluationRequest get;
  get.set_name(evaluation.name());
  while (!IsTerminal(evaluation.state())) {
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(options.poll_interval));
    ASSIGN_OR_RETURN(evaluation, client.GetEvaluation(get));
  }
  RETURN_IF_ERROR(Print(evaluation, format, out));
  return evaluation;
}

absl::StatusOr<v1::Evaluation> EvalShow(JobClient& client, const std::string& name, OutputFormat format,
                                        std::ostream& out) {
  v1::GetEvaluationRequest request;
  request.set_name(EvaluationResourceName(name));
  ASSIGN_OR_RETURN(const v1::Evaluation evaluation, client.GetEvaluation(request));
  RETURN_IF_ERROR(Print(evaluation, format, out));
  return evaluation;
}

std::string FormatEvaluation(const v1::Evaluation& evaluation) {
  std::string text = absl::StrCat(evaluation.name(), "  ", StateName(evaluation.state()), "  (job ",
                                  evaluation.job(), ")\n");
  absl::StrAppend(&text, "target:   ", DescribeTarget(evaluation.request().target()), "\n");
  if (evaluation.request().has_baseline()) {
    absl::StrAppend(&text, "baseline: ", DescribeTarget(evaluation.request().baseline()), "\n");
  }
  if (evaluation.state() == v1::EVALUATION_STATE_FAILED) {
    absl::StrAppend(&text, "error:    ", evaluation.error().message(), "\n");
  }
  if (!evaluation.results().empty()) {
    std::vector<std::vector<std::string>> rows = {{"BENCHMARK", "METRIC", "VALUE", "STDERR", "N"}};
    for (const v1::BenchmarkResult& result : evaluation.results()) {
      for (const v1::MetricValue& metric : result.metrics()) {
        rows.push_back({BenchmarkLabel(result.benchmark()), metric.metric(), absl::StrFormat("%.4f", metric.value()),
                        metric.has_stderr() ? absl::StrFormat("%.4f", metric.stderr()) : "-",
                        absl::StrCat(metric.n())});
      }
    }
    absl::StrAppend(&text, RenderTable(rows));
  }
  if (evaluation.has_report()) {
    absl::StrAppend(&text, "transfer report: overall ",
                    absl::StripPrefix(v1::Verdict_Name(evaluation.report().overall_verdict()), "VERDICT_"),
                    " (ftctl report ", evaluation.name(), ")\n");
  }
  return text;
}

int EvaluationExitCode(v1::EvaluationState state) {
  switch (state) {
    case v1::EVALUATION_STATE_SUCCEEDED:
      return 0;
    case v1::EVALUATION_STATE_FAILED:
      return 2;
    case v1::EVALUATION_STATE_CANCELLED:
      return 3;
    default:
      return 1;
  }
}

}  // namespace ftd
