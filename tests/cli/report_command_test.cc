// ftctl report against the coordinator's real JobService over a temp CoordinatorStore (127.0.0.1:0): Markdown, the
// HTML page and JSON of a stored report, NOT_FOUND before one is stored and for another user's job, several jobs as
// one comparison table or a JSON array; plus the wire -> plain-struct conversion (per-side standard errors,
// directions, curves, early stop) and the binary's flags.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/job_client.h"
#include "cli/report_command.h"
#include "cli/transfer_report_convert.h"
#include "common/report_markdown.h"
#include "coordinator/service/auth.h"
#include "coordinator/service/job_events.h"
#include "coordinator/service/job_service.h"
#include "coordinator/service/job_updates.h"
#include "coordinator/store/coordinator_store.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/cli/run_ftctl.h"
#include "tests/proto/local_server.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kJobId[] = "ft-000001";
constexpr char kJobName[] = "jobs/ft-000001";
constexpr char kAliceToken[] = "alice-token-0123456789";
constexpr char kBobToken[] = "bob-token-0123456789ab";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

v1::MetricValue Metric(const std::string& name, double value, double stderr_value, int64_t n,
                       v1::MetricDirection direction) {
  v1::MetricValue metric;
  metric.set_metric(name);
  metric.set_value(value);
  metric.set_stderr(stderr_value);
  metric.set_stderr_method(v1::STDERR_METHOD_SAMPLE);
  metric.set_n(n);
  metric.set_direction(direction);
  return metric;
}

v1::BenchmarkResult Result(v1::BenchmarkSuite suite, const std::string& path, v1::MetricValue metric) {
  v1::BenchmarkResult result;
  result.mutable_benchmark()->set_suite(suite);
  result.mutable_benchmark()->set_path(path);
  *result.add_metrics() = std::move(metric);
  return result;
}

// One row plus the raw results both sides carry, as the service's builder stores them.
void AddRow(v1::TransferReport& report, const std::string& key, v1::BenchmarkSuite suite, const std::string& path,
            const std::string& metric, v1::MetricDirection direction, double base, double base_se, double tuned,
            double tuned_se, int64_t n, v1::Verdict verdict) {
  v1::MetricComparison& row = *report.add_comparisons();
  row.set_benchmark(key);
  row.set_suite(suite);
  row.set_metric(metric);
  row.set_direction(direction);
  row.set_base_value(base);
  row.set_tuned_value(tuned);
  row.set_delta(tuned - base);
  row.set_delta_stderr(std::sqrt(base_se * base_se + tuned_se * tuned_se));
  row.set_stderr_method(v1::STDERR_METHOD_SAMPLE);
  row.set_n(n);
  row.set_verdict(verdict);
  *report.add_base_results() = Result(suite, path, Metric(metric, base, base_se, n, direction));
  *report.add_tuned_results() = Result(suite, path, Metric(metric, tuned, tuned_se, n, direction));
}

// Task acc improved, MMLU acc unchanged, wikitext word perplexity regressed.
v1::TransferReport SampleWireReport() {
  v1::TransferReport report;
  report.set_name(absl::StrCat(kJobName, "/transferReport"));
  report.set_base_model("/models/tiny");
  report.mutable_tuned()->set_checkpoint(absl::StrCat(kJobName, "/checkpoints/step-00000020"));
  report.mutable_create_time()->set_seconds(1767323045);  // 2026-01-02T03:04:05Z.
  report.set_z(1.96);
  report.set_min_items(30);
  AddRow(report, "task", v1::BENCHMARK_SUITE_TASK, "/data/val.jsonl", "acc", v1::METRIC_DIRECTION_HIGHER_IS_BETTER,
         0.50, 0.02, 0.70, 0.02, 500, v1::VERDICT_IMPROVED);
  AddRow(report, "mmlu", v1::BENCHMARK_SUITE_MMLU, "/data/mmlu", "acc", v1::METRIC_DIRECTION_HIGHER_IS_BETTER, 0.45,
         0.01, 0.452, 0.01, 1000, v1::VERDICT_UNCHANGED);
  AddRow(report, "perplexity/wikitext", v1::BENCHMARK_SUITE_PERPLEXITY, "/data/wikitext.txt", "word_perplexity",
         v1::METRIC_DIRECTION_LOWER_IS_BETTER, 12.0, 0.1, 13.0, 0.1, 60, v1::VERDICT_REGRESSED);
  report.set_overall_verdict(v1::VERDICT_REGRESSED);
  return report;
}

v1::JobEvent MetricsEvent(int64_t step, std::optional<int32_t> rank, std::optional<double> train_loss,
                          std::optional<double> lr, std::optional<double> val_loss, std::optional<double> ppl) {
  v1::JobEvent event;
  v1::MetricsSample& sample = *event.mutable_metrics();
  sample.set_step(step);
  if (rank.has_value()) sample.set_rank(*rank);
  if (train_loss.has_value()) sample.set_train_loss(*train_loss);
  if (lr.has_value()) sample.set_learning_rate(*lr);
  if (val_loss.has_value()) sample.set_eval_task_loss(*val_loss);
  if (ppl.has_value()) sample.set_eval_general_perplexity(*ppl);
  return event;
}

// The training history of an early-stopped job: steps 10 and 20 (rank 0 and a rank 1 duplicate), evals at 0, 10,
// 20, 30, a checkpoint at step 20, and the guardrail firing at step 30 keeping step 20.
std::vector<v1::JobEvent> TrainingEvents() {
  std::vector<v1::JobEvent> events;
  events.push_back(MetricsEvent(0, 0, std::nullopt, std::nullopt, 2.0, 10.0));
  events.push_back(MetricsEvent(10, 0, 1.9, 2e-4, std::nullopt, std::nullopt));
  events.push_back(MetricsEvent(10, 1, 9.9, 9e-4, std::nullopt, std::nullopt));  // Rank 1: not the curve.
  events.push_back(MetricsEvent(10, 0, std::nullopt, std::nullopt, 1.5, 10.5));
  events.push_back(MetricsEvent(20, 0, 1.2, 1e-4, 1.25, 10.8));
  v1::JobEvent saved;
  saved.mutable_checkpoint_saved()->mutable_checkpoint()->set_name(
      absl::StrCat(kJobName, "/checkpoints/step-00000020"));
  saved.mutable_checkpoint_saved()->mutable_checkpoint()->set_step(20);
  events.push_back(saved);
  events.push_back(MetricsEvent(30, 0, 1.1, 5e-5, 1.3, 11.6));
  v1::JobEvent stop;
  stop.mutable_early_stop()->set_step(30);
  stop.mutable_early_stop()->set_general_perplexity(11.6);
  stop.mutable_early_stop()->set_base_general_perplexity(10.0);
  stop.mutable_early_stop()->set_limit(11.0);
  stop.mutable_early_stop()->set_evaluations_over_limit(1);
  stop.mutable_early_stop()->set_best_checkpoint(absl::StrCat(kJobName, "/checkpoints/step-00000020"));
  events.push_back(stop);
  return events;
}

class ReportCommandTest : public ::testing::Test {
 protected:
  // `tokens`: alice (the job's owner) and bob, both plain users; else authentication is off.
  void Start(bool with_tokens = false) {
    absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(tmp_.file("db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);

    v1::Job job;
    job.set_name(kJobName);
    job.set_user("alice");
    job.mutable_resolved_spec()->set_method(v1::METHOD_LORA);
    job.mutable_resolved_spec()->set_base_model("/models/tiny");
    *job.mutable_create_time() = ToProtoTime(absl::FromUnixSeconds(1767225600));  // 2026-01-01T00:00:00Z.
    std::vector<v1::JobEvent> events;
    RecordStateChange(job, events, v1::JOB_STATE_QUEUED, "Submitted", "", clock_.Now());
    RecordStateChange(job, events, v1::JOB_STATE_RUNNING, "Placed", "", clock_.Now());
    ASSERT_TRUE(store_->CreateJob(job, events).ok());

    JobServiceOptions options;
    if (with_tokens) {
      auto table = std::make_shared<TokenTable>();
      table->entries.push_back({kAliceToken, "alice", TokenRole::kUser});
      table->entries.push_back({kBobToken, "bob", TokenRole::kUser});
      options.tokens = table;
    }
    absl::StatusOr<std::unique_ptr<CoordinatorJobService>> service =
        CoordinatorJobService::Create(*store_, events_, [this] { return clock_.Now(); }, options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    absl::StatusOr<LocalServer> server = StartLocalServer(service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    address_ = absl::StrCat("127.0.0.1:", server_.port);
    client_ = MakeClient(with_tokens ? kAliceToken : "");
  }

  void TearDown() override {
    events_.Shutdown();
    if (server_.server != nullptr) server_.server->Shutdown();
  }

  std::unique_ptr<JobClient> MakeClient(const std::string& token) const {
    ConnectionOptions options;
    options.server = address_;
    options.token = token;
    options.timeout = absl::Seconds(20);
    absl::StatusOr<std::unique_ptr<JobClient>> client = JobClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  // The training history, then EVALUATING and EARLY_STOPPED, as the runtime records them.
  void FinishTraining() {
    const absl::StatusOr<v1::Job> done =
        UpdateJobAndPublish(*store_, events_, kJobId, clock_.Now(), [](v1::Job& job, std::vector<v1::JobEvent>& events) {
          for (v1::JobEvent& event : TrainingEvents()) events.push_back(std::move(event));
          RecordStateChange(job, events, v1::JOB_STATE_EVALUATING, "GuardrailFired", "", absl::UnixEpoch());
          RecordStateChange(job, events, v1::JOB_STATE_EARLY_STOPPED, "EvaluationDone", "", absl::UnixEpoch());
          job.set_best_checkpoint(absl::StrCat(kJobName, "/checkpoints/step-00000020"));
          return absl::OkStatus();
        });
    ASSERT_TRUE(done.ok()) << done.status();
  }

  void StoreReport() { ASSERT_TRUE(store_->PutTransferReport(kJobId, SampleWireReport()).ok()); }

  // Two more finished jobs of alice's with their reports, beside kJobId (lora, early-stopped): ft-000002, full, whose
  // report has no mmlu row and whose perplexity improved; ft-000003, qlora on another base model.
  void AddTwoMoreJobs() {
    for (const auto& [id, method, base] : {std::tuple("ft-000002", v1::METHOD_FULL, "/models/tiny"),
                                           std::tuple("ft-000003", v1::METHOD_QLORA, "/models/tiny-nf4")}) {
      v1::Job job;
      job.set_name(absl::StrCat("jobs/", id));
      job.set_user("alice");
      job.mutable_resolved_spec()->set_method(method);
      job.mutable_resolved_spec()->set_base_model(base);
      std::vector<v1::JobEvent> events;
      RecordStateChange(job, events, v1::JOB_STATE_QUEUED, "Submitted", "", clock_.Now());
      RecordStateChange(job, events, v1::JOB_STATE_RUNNING, "Placed", "", clock_.Now());
      for (int64_t step : {10, 20, 40}) events.push_back(MetricsEvent(step, 0, 1.5, 1e-4, std::nullopt, std::nullopt));
      RecordStateChange(job, events, v1::JOB_STATE_SUCCEEDED, "EvaluationDone", "", clock_.Now());
      ASSERT_TRUE(store_->CreateJob(job, events).ok());
      v1::TransferReport report = SampleWireReport();
      report.set_name(absl::StrCat("jobs/", id, "/transferReport"));
      report.set_base_model(base);
      if (method == v1::METHOD_FULL) {
        report.mutable_comparisons()->DeleteSubrange(1, 1);  // mmlu.
        report.mutable_comparisons(1)->set_tuned_value(11.0);
        report.mutable_comparisons(1)->set_delta(-1.0);
        report.mutable_comparisons(1)->set_verdict(v1::VERDICT_IMPROVED);
        report.mutable_tuned_results(2)->mutable_metrics(0)->set_value(11.0);
      }
      ASSERT_TRUE(store_->PutTransferReport(id, report).ok());
    }
  }

  absl::Status Report(JobClient& client, const std::string& html, OutputFormat format, std::string* out,
                      std::vector<std::string> more_jobs = {}) {
    ReportOptions options;
    options.job = kJobId;
    options.more_jobs = std::move(more_jobs);
    options.html_path = html;
    std::ostringstream stream;
    const absl::Status status = JobReport(client, options, format, stream);
    *out = stream.str();
    return status;
  }

  FakeClock clock_;
  TempDir tmp_{"ftd_report_command"};
  std::unique_ptr<CoordinatorStore> store_;
  JobEvents events_;
  std::unique_ptr<CoordinatorJobService> service_;
  LocalServer server_;
  std::string address_;
  std::unique_ptr<JobClient> client_;
};

TEST_F(ReportCommandTest, MarkdownHasEveryRowWithItsNumbersAndVerdict) {
  Start();
  FinishTraining();
  StoreReport();
  std::string md;
  const absl::Status status = Report(*client_, "", OutputFormat::kTable, &md);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(md, HasSubstr("# Transfer report: jobs/ft-000001\n"));
  EXPECT_THAT(md, HasSubstr("/models/tiny"));
  EXPECT_THAT(md, HasSubstr("lora"));
  EXPECT_THAT(md, HasSubstr("2026-01-01T00:00:00Z"));
  EXPECT_THAT(md, HasSubstr("2026-01-02T03:04:05Z"));
  EXPECT_THAT(md, HasSubstr("task gain with negative transfer: perplexity/wikitext"));
  EXPECT_THAT(md, HasSubstr("| mmlu | acc ↑ | 0.4500 ± 0.0100 | 0.4520 ± 0.0100 | +0.0020 ± 0.0141 | "
                            "neutral within noise |"));
  EXPECT_THAT(md, HasSubstr("| perplexity/wikitext | word_perplexity ↓ | 12.0000 ± 0.1000 | 13.0000 ± 0.1000 | "
                            "+1.0000 ± 0.1414 | regressed (negative transfer) |"));
  EXPECT_THAT(md, HasSubstr("Task gain: task (acc ↑): base 0.5000 ± 0.0200 → tuned 0.7000 ± 0.0200, delta "
                            "+0.2000 ± 0.0283: improved."));
  EXPECT_THAT(md, HasSubstr("Early stop: at step 30, general perplexity 11.6000 over the limit 11.0000; kept the "
                            "checkpoint of step 20."));
  // The curves come from the events: rank 0's steps 10, 20, 30 (rank 1's 9.9 is not one of them).
  EXPECT_THAT(md, HasSubstr("3 steps logged (steps 10–30)"));
  EXPECT_THAT(md, Not(HasSubstr("9.9000")));
}

TEST_F(ReportCommandTest, HtmlPageIsWrittenSelfContainedWithTheRows) {
  Start();
  FinishTraining();
  StoreReport();
  const std::string path = tmp_.file("report.html");
  std::string out;
  const absl::Status status = Report(*client_, path, OutputFormat::kTable, &out);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(out, HasSubstr(path));
  const std::string html = ReadAll(path);
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>\n"));
  for (const char* cell : {"mmlu", "0.4520 ± 0.0100", "neutral within noise", "perplexity/wikitext",
                           "13.0000 ± 0.1000", "regressed (negative transfer)", "0.7000 ± 0.0200"}) {
    EXPECT_THAT(html, HasSubstr(cell));
  }
  for (const char* bad : {"http:", "https:", "src=", "href=", "url(", "@import", "<script", "<link"}) {
    EXPECT_THAT(html, Not(HasSubstr(bad))) << bad;
  }
  EXPECT_FALSE(std::ifstream(path + ".partial").good());
}

TEST_F(ReportCommandTest, JsonRoundTripsTheStoredReport) {
  Start();
  FinishTraining();
  StoreReport();
  std::string json;
  const absl::Status status = Report(*client_, "", OutputFormat::kJson, &json);
  ASSERT_TRUE(status.ok()) << status;
  v1::TransferReport parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, SampleWireReport())) << json;
  EXPECT_THAT(json, HasSubstr("\"VERDICT_REGRESSED\""));
}

TEST_F(ReportCommandTest, NotFoundBeforeTheReportNamesTheJobAndItsState) {
  Start();
  std::string out;
  absl::Status status = Report(*client_, "", OutputFormat::kTable, &out);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_EQ(status.message(), "job jobs/ft-000001 has no transfer report yet (state RUNNING)");
  FinishTraining();
  status = Report(*client_, "", OutputFormat::kJson, &out);
  EXPECT_EQ(status.message(), "job jobs/ft-000001 has no transfer report yet (state EARLY_STOPPED)");
  EXPECT_TRUE(out.empty()) << out;

  ReportOptions missing;
  missing.job = "ft-000099";
  std::ostringstream stream;
  status = JobReport(*client_, missing, OutputFormat::kTable, stream);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("jobs/ft-000099"));

  // A malformed resource name is the caller's to fix.
  v1::GetTransferReportRequest bad;
  bad.set_name(kJobName);
  EXPECT_EQ(client_->GetTransferReport(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

// The report may be stored before the job's last state change: the command reads the history up to the job's
// newest event instead of waiting for a WatchJob stream that only a terminal job ends.
TEST_F(ReportCommandTest, ReportOfAJobNotYetTerminalEnds) {
  Start();
  StoreReport();  // The job is still RUNNING.
  std::string md;
  const absl::Status status = Report(*client_, "", OutputFormat::kTable, &md);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(md, HasSubstr("| mmlu | acc ↑ |"));
  EXPECT_THAT(md, HasSubstr("Early stop: none."));
}

TEST_F(ReportCommandTest, AnotherUsersReportIsNotFound) {
  Start(/*with_tokens=*/true);
  FinishTraining();
  StoreReport();
  std::string out;
  absl::Status status = Report(*client_, "", OutputFormat::kTable, &out);  // Alice's own job.
  ASSERT_TRUE(status.ok()) << status;
  const std::unique_ptr<JobClient> bob = MakeClient(kBobToken);
  status = Report(*bob, "", OutputFormat::kJson, &out);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(status.message(), HasSubstr("jobs/ft-000001"));
  EXPECT_THAT(status.message(), Not(HasSubstr("transfer report yet")));  // Nothing about the job leaks.
}

TEST_F(ReportCommandTest, FtctlReportFlags) {
  Start();
  FinishTraining();
  StoreReport();
  const auto run = [this](const std::string& args, std::string* out) {
    return RunFtctl(FTCTL_PATH, tmp_.path(), address_, args, out);
  };
  std::string out;
  ASSERT_EQ(run("report ft-000001", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("| mmlu | acc ↑ |"));
  out.clear();
  ASSERT_EQ(run("report jobs/ft-000001 -o json", &out), 0) << out;
  v1::TransferReport parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &parsed).ok()) << out;
  EXPECT_EQ(parsed.comparisons_size(), 3);
  out.clear();
  ASSERT_EQ(run("report ft-000001 --html " + tmp_.file("r.html"), &out), 0) << out;
  EXPECT_THAT(ReadAll(tmp_.file("r.html")), HasSubstr("perplexity/wikitext"));
  out.clear();
  EXPECT_EQ(run("report ft-000002", &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("jobs/ft-000002 not found"));
}

TEST_F(ReportCommandTest, SeveralJobsPrintOneComparisonTable) {
  Start();
  FinishTraining();
  StoreReport();
  AddTwoMoreJobs();
  std::string md;
  const absl::Status status =
      Report(*client_, "", OutputFormat::kTable, &md, {"jobs/ft-000002", "ft-000003"});
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(md.starts_with("# Transfer comparison: 3 jobs\n")) << md;
  EXPECT_THAT(md, HasSubstr("| job | method | steps | task: task (acc ↑) | mmlu (acc ↑) | perplexity/wikitext "
                            "(word_perplexity ↓) | overall verdict |\n|---|---|---|---|---|---|---|\n"));
  EXPECT_THAT(md, HasSubstr("| jobs/ft-000001 | lora | 20 (early-stopped at 30) | 0.5000 → 0.7000, +0.2000 ± 0.0283: "
                            "improved | +0.0020 ± 0.0141: neutral within noise | +1.0000 ± 0.1414: regressed (negative "
                            "transfer) | task gain with negative transfer: perplexity/wikitext |\n"));
  EXPECT_THAT(md, HasSubstr("| jobs/ft-000002 | full | 40 | 0.5000 → 0.7000, +0.2000 ± 0.0283: improved | — | "
                            "-1.0000 ± 0.1414: improved | Pareto improvement |\n"));
  EXPECT_THAT(md, HasSubstr("| jobs/ft-000003 | qlora | 40 | 0.5000 → 0.7000, +0.2000 ± 0.0283: improved |"));
  EXPECT_THAT(md, HasSubstr("Note: the jobs' base models differ (jobs/ft-000001: /models/tiny; jobs/ft-000002: "
                            "/models/tiny; jobs/ft-000003: /models/tiny-nf4): each row compares a job with its own "
                            "base, so the comparison is across bases."));
  EXPECT_THAT(md, HasSubstr("\nNote: method qlora: "));
  // No single report's sections: one table, the rule and the notes.
  EXPECT_THAT(md, Not(HasSubstr("# Transfer report:")));
  EXPECT_THAT(md, Not(HasSubstr("Training curves")));
}

TEST_F(ReportCommandTest, SeveralJobsAsJsonAreAnArrayOfTheirWireReports) {
  Start();
  FinishTraining();
  StoreReport();
  AddTwoMoreJobs();
  std::string json;
  const absl::Status status = Report(*client_, "", OutputFormat::kJson, &json, {"ft-000002", "ft-000003"});
  ASSERT_TRUE(status.ok()) << status;
  google::protobuf::ListValue array;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &array).ok()) << json;
  ASSERT_EQ(array.values_size(), 3) << json;
  const std::vector<std::string> names = {"jobs/ft-000001/transferReport", "jobs/ft-000002/transferReport",
                                          "jobs/ft-000003/transferReport"};
  for (int i = 0; i < array.values_size(); ++i) {
    std::string object;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(array.values(i), &object).ok());
    v1::TransferReport parsed;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(object, &parsed).ok()) << object;
    EXPECT_EQ(parsed.name(), names[static_cast<size_t>(i)]);
    if (i == 0) {
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, SampleWireReport())) << object;
    }
  }
  EXPECT_EQ(array.values(1).struct_value().fields().at("comparisons").list_value().values_size(), 2);
}

TEST_F(ReportCommandTest, SeveralJobsRefuseHtmlAndFailOnAMissingReport) {
  Start();
  FinishTraining();
  StoreReport();
  AddTwoMoreJobs();
  const std::string path = tmp_.file("several.html");
  std::string out;
  absl::Status status = Report(*client_, path, OutputFormat::kTable, &out, {"ft-000002"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr("--html takes one job"));
  EXPECT_FALSE(std::ifstream(path).good());
  // The first job without a report fails the command with the server's message, and nothing is printed.
  status = Report(*client_, "", OutputFormat::kTable, &out, {"ft-000002", "ft-000099"});
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(status.message(), HasSubstr("jobs/ft-000099"));
  EXPECT_TRUE(out.empty()) << out;
}

TEST_F(ReportCommandTest, FtctlReportSeveralJobs) {
  Start();
  FinishTraining();
  StoreReport();
  AddTwoMoreJobs();
  const auto run = [this](const std::string& args, std::string* out) {
    return RunFtctl(FTCTL_PATH, tmp_.path(), address_, args, out);
  };
  std::string out;
  ASSERT_EQ(run("report ft-000001 ft-000002 jobs/ft-000003", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("# Transfer comparison: 3 jobs"));
  EXPECT_THAT(out, HasSubstr("| jobs/ft-000002 | full | 40 |"));
  out.clear();
  ASSERT_EQ(run("report ft-000001 ft-000002 -o json", &out), 0) << out;
  google::protobuf::ListValue array;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &array).ok()) << out;
  EXPECT_EQ(array.values_size(), 2);
  out.clear();
  EXPECT_EQ(run("report ft-000001 ft-000002 --html " + tmp_.file("r.html"), &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("ftctl: --html takes one job"));
}

// --- The conversion alone ---

TEST(TransferReportConvertTest, RowsTakePerSideStderrsFromTheResults) {
  v1::TransferReport wire = SampleWireReport();
  // Uneven sides: the row's delta_stderr alone could not tell them apart.
  wire.mutable_base_results(1)->mutable_metrics(0)->set_stderr(0.03);
  v1::Job job;
  job.set_name(kJobName);
  job.mutable_resolved_spec()->set_method(v1::METHOD_QLORA);
  const TransferReport report = TransferReportFromProto(wire, job, {});
  ASSERT_TRUE(report.task.has_value());
  EXPECT_EQ(report.task->suite, "task");
  EXPECT_DOUBLE_EQ(report.task->tuned.value, 0.70);
  ASSERT_EQ(report.benchmarks.size(), 2u);
  EXPECT_EQ(report.benchmarks[0].benchmark, "mmlu");
  EXPECT_DOUBLE_EQ(report.benchmarks[0].base.stderr_value, 0.03);
  EXPECT_DOUBLE_EQ(report.benchmarks[0].tuned.stderr_value, 0.01);
  EXPECT_EQ(report.benchmarks[1].direction, MetricDirection::kLowerIsBetter);
  EXPECT_EQ(report.benchmarks[1].n, 60);
  EXPECT_EQ(report.method, "qlora");
  EXPECT_EQ(report.base_model, "/models/tiny");
  EXPECT_FALSE(report.early_stop.has_value());
}

TEST(TransferReportConvertTest, WithoutResultsTheDeltaStderrIsSplitEvenly) {
  v1::TransferReport wire = SampleWireReport();
  wire.clear_base_results();
  wire.clear_tuned_results();
  wire.mutable_comparisons(2)->set_direction(v1::METRIC_DIRECTION_UNSPECIFIED);
  wire.mutable_comparisons(2)->set_context_length(8192);
  const BenchmarkComparison row = ComparisonFromProto(wire.comparisons(1), wire);
  EXPECT_NEAR(std::hypot(row.base.stderr_value, row.tuned.stderr_value), wire.comparisons(1).delta_stderr(), 1e-12);
  EXPECT_DOUBLE_EQ(row.base.stderr_value, row.tuned.stderr_value);
  const BenchmarkComparison ppl = ComparisonFromProto(wire.comparisons(2), wire);
  EXPECT_EQ(ppl.direction, MetricDirection::kLowerIsBetter);  // From the name "word_perplexity".
  EXPECT_EQ(ppl.benchmark, "perplexity/wikitext@8192");
}

TEST(TransferReportConvertTest, SecondTaskMetricIsNotAGeneralRow) {
  v1::TransferReport wire = SampleWireReport();
  AddRow(wire, "task", v1::BENCHMARK_SUITE_TASK, "/data/val.jsonl", "task_loss", v1::METRIC_DIRECTION_LOWER_IS_BETTER,
         1.0, 0.01, 1.5, 0.01, 500, v1::VERDICT_REGRESSED);
  const TransferReport report = TransferReportFromProto(wire, v1::Job(), {});
  ASSERT_TRUE(report.task.has_value());
  EXPECT_EQ(report.task->metric, "acc");
  EXPECT_EQ(report.benchmarks.size(), 2u);
  ASSERT_EQ(report.task_metrics.size(), 2u);  // Both task metrics still make table rows.
  EXPECT_EQ(report.task_metrics[1].metric, "task_loss");
}

TEST(TransferReportConvertTest, HellaSwagFromItsSixLineFormCarriesANote) {
  v1::TransferReport wire = SampleWireReport();
  AddRow(wire, "hellaswag", v1::BENCHMARK_SUITE_HELLASWAG, "/data/hellaswag_val_full.txt", "acc_norm",
         v1::METRIC_DIRECTION_HIGHER_IS_BETTER, 0.3, 0.01, 0.31, 0.01, 500, v1::VERDICT_UNCHANGED);
  TransferReport report = TransferReportFromProto(wire, v1::Job(), {});
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_THAT(report.notes[0], HasSubstr("not comparable to published HellaSwag scores"));
  EXPECT_THAT(RenderMarkdownReport(report), HasSubstr("\nNote: hellaswag was scored from the 6-line text form"));
  // The original JSONL layout needs no note.
  AddRow(wire, "hellaswag", v1::BENCHMARK_SUITE_HELLASWAG, "/data/hellaswag_val.jsonl", "acc",
         v1::METRIC_DIRECTION_HIGHER_IS_BETTER, 0.3, 0.01, 0.31, 0.01, 500, v1::VERDICT_UNCHANGED);
  report = TransferReportFromProto(wire, v1::Job(), {});
  EXPECT_EQ(report.notes.size(), 1u);
}

TEST(TransferReportConvertTest, QloraJobCarriesTheQuantisationNote) {
  const v1::TransferReport wire = SampleWireReport();
  v1::Job job;
  job.mutable_resolved_spec()->set_method(v1::METHOD_QLORA);
  job.mutable_resolved_spec()->set_bnb_4bit_use_double_quant(true);
  TransferReport report = TransferReportFromProto(wire, job, {});
  EXPECT_EQ(report.method, "qlora");
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_THAT(report.notes[0], HasSubstr("method qlora: the tuned model is scored as trained"));
  EXPECT_THAT(report.notes[0], HasSubstr("NF4-quantised, with double quantisation"));
  EXPECT_THAT(report.notes[0], HasSubstr("the differences include the quantisation"));
  EXPECT_THAT(RenderMarkdownReport(report), HasSubstr("\nNote: method qlora: "));
  job.mutable_resolved_spec()->set_bnb_4bit_use_double_quant(false);
  report = TransferReportFromProto(wire, job, {});
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_THAT(report.notes[0], HasSubstr("NF4-quantised, fp32 absmax"));
  // lora and full jobs score both sides as stored: no note.
  job.mutable_resolved_spec()->set_method(v1::METHOD_LORA);
  EXPECT_TRUE(TransferReportFromProto(wire, job, {}).notes.empty());
}

TEST(TransferReportConvertTest, CurvesKeepRankZeroAndTheLaterSampleOfAStep) {
  std::vector<v1::JobEvent> events = TrainingEvents();
  events.push_back(MetricsEvent(20, std::nullopt, 1.0, 1e-4, std::nullopt, std::nullopt));  // A restart's repeat.
  for (size_t i = 0; i < events.size(); ++i) events[i].set_sequence(static_cast<int64_t>(i) + 1);
  v1::Job job;
  const TrainingCurves curves = CurvesFromEvents(job, events);
  ASSERT_EQ(curves.steps.size(), 3u);
  EXPECT_EQ(curves.steps[0].step, 10);
  EXPECT_DOUBLE_EQ(curves.steps[0].task_loss, 1.9);
  EXPECT_DOUBLE_EQ(curves.steps[1].task_loss, 1.0);
  ASSERT_EQ(curves.evals.size(), 4u);
  EXPECT_DOUBLE_EQ(curves.evals[1].general_ppl, 10.5);
  EXPECT_EQ(curves.general_ppl_limit, 11.0);  // The EarlyStop event's.
  const std::optional<EarlyStopRecord> stop = EarlyStopFromEvents(events);
  ASSERT_TRUE(stop.has_value());
  EXPECT_EQ(stop->best_step, 20);

  // Without an EarlyStop event the limit comes from the job's guardrail settings; an eval without a perplexity is NaN.
  events = {MetricsEvent(0, 0, std::nullopt, std::nullopt, 2.0, std::nullopt)};
  job.mutable_resolved_spec()->mutable_early_stopping()->set_general_ppl_max_rise(0.5);
  job.mutable_progress()->set_base_general_perplexity(10.0);
  const TrainingCurves guarded = CurvesFromEvents(job, events);
  EXPECT_EQ(guarded.general_ppl_limit, 15.0);
  ASSERT_EQ(guarded.evals.size(), 1u);
  EXPECT_TRUE(std::isnan(guarded.evals[0].general_ppl));
  EXPECT_FALSE(EarlyStopFromEvents(events).has_value());
}

}  // namespace
}  // namespace ftd
