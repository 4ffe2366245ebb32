// ftctl eval's flags -> RunEvaluationRequest, and how an Evaluation prints (pure functions; the command against a
// real ftd runs in tests/integration/test_transfer_report.py).
#include "cli/eval_command.h"

#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ftd {
namespace {

using ::testing::HasSubstr;

TEST(FtctlEvalTest, FlagsBecomeTheRequest) {
  EvalOptions options;
  options.model = "/m/base";
  options.adapter = "/a/lora";
  options.baseline = "/m/base";
  options.benchmarks = {"piqa=/d/piqa/valid.jsonl", "long_context=", "PERPLEXITY=/d/wiki.txt"};
  options.limit = 20;
  options.context_lengths = {128, 256};
  options.device = "cpu";
  options.request_id = "r-1";
  absl::StatusOr<v1::RunEvaluationRequest> request = BuildEvaluationRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->target().adapter().base_model(), "/m/base");
  EXPECT_EQ(request->target().adapter().adapter_path(), "/a/lora");
  EXPECT_EQ(request->baseline().model_path(), "/m/base");
  ASSERT_EQ(request->benchmarks_size(), 3);
  EXPECT_EQ(request->benchmarks(0).suite(), v1::BENCHMARK_SUITE_PIQA);
  EXPECT_EQ(request->benchmarks(0).path(), "/d/piqa/valid.jsonl");
  EXPECT_EQ(request->benchmarks(0).limit(), 20);
  EXPECT_TRUE(request->benchmarks(0).context_lengths().empty());
  EXPECT_EQ(request->benchmarks(1).suite(), v1::BENCHMARK_SUITE_LONG_CONTEXT);
  EXPECT_EQ(request->benchmarks(1).path(), "");
  EXPECT_THAT(request->benchmarks(1).context_lengths(), ::testing::ElementsAre(128, 256));
  EXPECT_EQ(request->benchmarks(2).suite(), v1::BENCHMARK_SUITE_PERPLEXITY);
  EXPECT_FALSE(request->benchmarks(2).has_num_fewshot());
  EXPECT_EQ(request->device(), v1::DEVICE_CPU);
  EXPECT_EQ(request->request_id(), "r-1");

  EvalOptions of_job;
  of_job.job = "ft-000004";
  of_job.benchmarks = {"task=/d/tasks/sst2"};
  request = BuildEvaluationRequest(of_job);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->target().checkpoint(), "jobs/ft-000004");
  EXPECT_EQ(request->device(), v1::DEVICE_CUDA);
  EXPECT_FALSE(request->has_baseline());
}

TEST(FtctlEvalTest, BadFlagsNameTheFlag) {
  const struct {
    std::function<void(EvalOptions&)> set;
    std::string says;
  } cases[] = {
      {[](EvalOptions& o) { o.benchmarks = {"piqa=/x"}; }, "a target is required"},
      {[](EvalOptions& o) { o.model = "/m", o.job = "ft-1", o.benchmarks = {"piqa=/x"}; }, "give one target"},
      {[](EvalOptions& o) { o.adapter = "/a", o.benchmarks = {"piqa=/x"}; }, "--adapter: needs --model"},
      {[](EvalOptions& o) { o.model = "/m"; }, "--benchmark SUITE=PATH: at least one"},
      {[](EvalOptions& o) { o.model = "/m", o.benchmarks = {"arc=/x"}; }, "--benchmark \"arc=/x\""},
      {[](EvalOptions& o) { o.model = "/m", o.benchmarks = {"=/x"}; }, "want SUITE=PATH"},
      {[](EvalOptions& o) { o.model = "/m", o.benchmarks = {"piqa=/x"}, o.device = "tpu"; }, "--device \"tpu\""},
  };
  for (const auto& [set, says] : cases) {
    EvalOptions options;
    set(options);
    absl::StatusOr<v1::RunEvaluationRequest> request = BuildEvaluationRequest(options);
    EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument) << says;
    EXPECT_THAT(request.status().message(), HasSubstr(says));
  }
}

TEST(FtctlEvalTest, AnEvaluationPrintsItsStateScoresAndVerdict) {
  v1::Evaluation evaluation;
  evaluation.set_name("evaluations/ft-000003");
  evaluation.set_job("jobs/ft-000003");
  evaluation.set_state(v1::EVALUATION_STATE_SUCCEEDED);
  evaluation.mutable_request()->mutable_target()->set_checkpoint("jobs/ft-000001/checkpoints/final");
  evaluation.mutable_request()->mutable_baseline()->set_model_path("/m/base");
  v1::BenchmarkResult& result = *evaluation.add_results();
  result.mutable_benchmark()->set_suite(v1::BENCHMARK_SUITE_PIQA);
  result.mutable_benchmark()->set_path("/d/piqa/valid.jsonl");
  v1::MetricValue& acc = *result.add_metrics();
  acc.set_metric("acc");
  acc.set_value(0.55);
  acc.set_stderr(0.0497);
  acc.set_n(100);
  v1::MetricValue& bpb = *result.add_metrics();
  bpb.set_metric("bits_per_byte");
  bpb.set_value(1.25);
  bpb.set_n(2);
  evaluation.mutable_report()->set_overall_verdict(v1::VERDICT_UNCHANGED);
  EXPECT_EQ(FormatEvaluation(evaluation),
            "evaluations/ft-000003  SUCCEEDED  (job jobs/ft-000003)\n"
            "target:   jobs/ft-000001/checkpoints/final\n"
            "baseline: /m/base\n"
            "BENCHMARK           METRIC         VALUE   STDERR  N\n"
            "piqa (valid.jsonl)  acc            0.5500  0.0497  100\n"
            "piqa (valid.jsonl)  bits_per_byte  1.2500  -       2\n"
            "transfer report: overall UNCHANGED (ftctl report evaluations/ft-000003)\n");
  EXPECT_EQ(EvaluationExitCode(v1::EVALUATION_STATE_SUCCEEDED), 0);
  EXPECT_EQ(EvaluationExitCode(v1::EVALUATION_STATE_FAILED), 2);
  EXPECT_EQ(EvaluationExitCode(v1::EVALUATION_STATE_CANCELLED), 3);
  EXPECT_EQ(EvaluationExitCode(v1::EVALUATION_STATE_RUNNING), 1);
}

}  // namespace
}  // namespace ftd
