// ftctl's job-command functions over a real gRPC channel to the in-memory JobService (job_server_fixture.h):
// submit/get/list/cancel, spec errors, NOT_FOUND, an unreachable server, watch lines and outcomes, logs,
// checkpoints, JSON and the bearer token.
#include "cli/job_commands.h"

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/job_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/job_server_fixture.h"
#include "tests/proto/local_server.h"

namespace ftd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

google::protobuf::Timestamp ProtoTime(int64_t unix_seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(unix_seconds);
  return t;
}

v1::JobEvent Metrics(int64_t step, std::optional<double> loss, std::optional<double> general_ppl,
                     std::optional<double> tokens_per_second, int64_t unix_seconds) {
  v1::JobEvent event;
  v1::MetricsSample& m = *event.mutable_metrics();
  m.set_step(step);
  *m.mutable_time() = ProtoTime(unix_seconds);
  if (loss.has_value()) m.set_train_loss(*loss);
  if (general_ppl.has_value()) m.set_eval_general_perplexity(*general_ppl);
  if (tokens_per_second.has_value()) m.set_tokens_per_second(*tokens_per_second);
  return event;
}

v1::LogLine Log(int64_t unix_seconds, v1::LogLevel level, std::optional<int> rank, const std::string& text) {
  v1::LogLine line;
  *line.mutable_time() = ProtoTime(unix_seconds);
  line.set_level(level);
  if (rank.has_value()) line.set_rank(*rank);
  line.set_text(text);
  return line;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}
using JobCommandsTest = JobServerTest;

TEST_F(JobCommandsTest, SubmitThenGetListCancel) {
  const std::string job = MustSubmit();
  EXPECT_EQ(job, "jobs/ft-000001");

  std::ostringstream got;
  ASSERT_TRUE(JobGet(*client_, "ft-000001", OutputFormat::kTable, got).ok());  // The id alone is enough.
  EXPECT_THAT(got.str(), HasSubstr("job:               jobs/ft-000001\n"));
  EXPECT_THAT(got.str(), HasSubstr("name:              tune-tiny\n"));
  EXPECT_THAT(got.str(), HasSubstr("state:             QUEUED\n"));
  EXPECT_THAT(got.str(), HasSubstr("method:            lora\n"));  // The server's default, from resolved_spec.
  EXPECT_THAT(got.str(), HasSubstr("step:              0/100\n"));
  EXPECT_THAT(got.str(), HasSubstr("created:           2025-01-02T03:04:05Z\n"));

  std::ostringstream listed;
  ASSERT_TRUE(JobList(*client_, {}, OutputFormat::kTable, listed).ok());
  EXPECT_EQ(listed.str(),
            "JOB             NAME       STATE   METHOD  STEP   BASE MODEL    CREATED\n"
            "jobs/ft-000001  tune-tiny  QUEUED  lora    0/100  /models/tiny  2025-01-02T03:04:05Z\n");

  std::ostringstream cancelled;
  ASSERT_TRUE(JobCancel(*client_, job, "not needed", OutputFormat::kTable, cancelled).ok());
  EXPECT_EQ(cancelled.str(), "jobs/ft-000001 CANCELLED\n");
  // Cancelling again is the server's FAILED_PRECONDITION, its message verbatim.
  std::ostringstream again;
  const absl::Status twice = JobCancel(*client_, job, "", OutputFormat::kTable, again);
  EXPECT_EQ(twice.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(std::string(twice.message()), "jobs/ft-000001 is already JOB_STATE_CANCELLED (a terminal state)");
}

TEST_F(JobCommandsTest, SubmitSendsTheSpecAsWrittenWithTheRequestId) {
  const std::string first = MustSubmit(kValidSpec, "req-1");
  EXPECT_EQ(MustSubmit(kValidSpec, "req-1"), first);  // Idempotent: the same job.
  std::ostringstream out;
  ASSERT_TRUE(JobGet(*client_, first, OutputFormat::kJson, out).ok());
  const nlohmann::json job = nlohmann::json::parse(out.str());
  EXPECT_EQ(job["requestId"], "req-1");
  // Unset fields stay unset in Job.spec (the server's defaults show only in resolvedSpec).
  EXPECT_FALSE(job["spec"].contains("method")) << job["spec"];
  EXPECT_EQ(job["resolvedSpec"]["method"], "METHOD_LORA");

  SubmitOptions changed;
  changed.spec_path = WriteFile("other.yaml", std::string(kValidSpec) + "seed: 7\n");
  changed.request_id = "req-1";
  const absl::Status reused = JobSubmit(*client_, changed, OutputFormat::kTable, out);
  EXPECT_EQ(reused.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(reused.message()), HasSubstr("request_id \"req-1\" was already used"));
}

TEST_F(JobCommandsTest, ValidateOnlyCreatesNoJob) {
  SubmitOptions options;
  options.spec_path = WriteFile("job.yaml", kValidSpec);
  options.mode = SubmitMode::kValidateOnly;
  std::ostringstream out;
  ASSERT_TRUE(JobSubmit(*client_, options, OutputFormat::kTable, out).ok());
  EXPECT_EQ(out.str(), options.spec_path + ": valid (checked by the server, not submitted)\n");
  std::ostringstream listed;
  ASSERT_TRUE(JobList(*client_, {}, OutputFormat::kJson, listed).ok());
  EXPECT_EQ(listed.str(), "{}\n");  // No jobs: proto JSON leaves the empty list out.
}

TEST_F(JobCommandsTest, BadSpecNamesTheKeyBeforeAnyCall) {
  struct Case {
    std::string yaml;
    std::string message;
  };
  const Case cases[] = {
      {std::string(kValidSpec) + "lora_r: -1\n", "lora_r: must be > 0, got -1"},
      {std::string(kValidSpec) + "lorra_r: 8\n", "lorra_r: unknown key (did you mean lora_r?)"},
      {"name: x\nbase_model: /m\n", "datasets: at least one dataset is required"},
  };
  for (const Case& c : cases) {
    SubmitOptions options;
    options.spec_path = WriteFile("bad.yaml", c.yaml);
    std::ostringstream out;
    const absl::Status status = JobSubmit(*client_, options, OutputFormat::kTable, out);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_EQ(std::string(status.message()), options.spec_path + ": " + c.message);
    EXPECT_EQ(out.str(), "");
  }
  SubmitOptions missing;
  missing.spec_path = tmp_.path() + "/absent.yaml";
  std::ostringstream out;
  EXPECT_EQ(std::string(JobSubmit(*client_, missing, OutputFormat::kTable, out).message()),
            missing.spec_path + ": No such file or directory");
  EXPECT_THAT(service_->calls(), ::testing::IsEmpty());
}

TEST_F(JobCommandsTest, ServerRejectionIsPrintedVerbatim) {
  // A check only the server can make (the model is on the workers, not here).
  service_->RejectSubmits(
      absl::InvalidArgumentError("spec.base_model: /models/tiny has no config.json on the workers"));
  SubmitOptions options;
  options.spec_path = WriteFile("job.yaml", kValidSpec);
  std::ostringstream out;
  const absl::Status status = JobSubmit(*client_, options, OutputFormat::kTable, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(status.message()), "spec.base_model: /models/tiny has no config.json on the workers");
}

TEST_F(JobCommandsTest, UnknownJobIsNotFound) {
  std::ostringstream out;
  for (const absl::Status& status :
       {JobGet(*client_, "ft-424242", OutputFormat::kTable, out),
        JobCancel(*client_, "jobs/ft-424242", "", OutputFormat::kTable, out),
        JobWatch(*client_, "ft-424242", OutputFormat::kTable, ProgressStyle::kLines, out).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(std::string(status.message()), "job jobs/ft-424242 not found");
  }
  EXPECT_EQ(out.str(), "");
}

TEST_F(JobCommandsTest, UnreachableServerFailsFastWithTheAddress) {
  ClosedPort closed;
  ConnectionOptions options;
  options.server = closed.address();
  options.timeout = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<JobClient>> client = JobClient::Create(options);
  ASSERT_TRUE(client.ok());
  std::ostringstream out;
  for (const absl::Status& status :
       {JobGet(**client, "ft-000001", OutputFormat::kTable, out),
        JobList(**client, {}, OutputFormat::kTable, out),
        JobWatch(**client, "ft-000001", OutputFormat::kTable, ProgressStyle::kLines, out).status()}) {
    // UNAVAILABLE, not DEADLINE_EXCEEDED: a refused connection is reported at once, within the deadline.
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_THAT(std::string(status.message()),
                StartsWith("cannot reach the ftd server at " + closed.address() + ": "));
    EXPECT_EQ(status.message().find('\n'), absl::string_view::npos);
  }
}

TEST_F(JobCommandsTest, ListFiltersAndPages) {
  for (int i = 0; i < 3; ++i) MustSubmit();
  std::ostringstream cancelled;
  ASSERT_TRUE(JobCancel(*client_, "ft-000002", "", OutputFormat::kTable, cancelled).ok());

  ListOptions one_page;
  one_page.page_size = 2;
  std::ostringstream page;
  ASSERT_TRUE(JobList(*client_, one_page, OutputFormat::kTable, page).ok());
  std::vector<std::string> lines = Lines(page.str());
  ASSERT_EQ(lines.size(), 4u) << page.str();
  EXPECT_THAT(lines[1], StartsWith("jobs/ft-000003 "));  // Newest first.
  EXPECT_THAT(lines[2], StartsWith("jobs/ft-000002 "));
  EXPECT_THAT(lines[3], StartsWith("more jobs: --page-token "));

  // The printed token continues where the page ended.
  ListOptions next = one_page;
  next.page_token = lines[3].substr(std::string("more jobs: --page-token ").size());
  std::ostringstream second;
  ASSERT_TRUE(JobList(*client_, next, OutputFormat::kTable, second).ok());
  EXPECT_THAT(Lines(second.str()), ElementsAre(StartsWith("JOB "), StartsWith("jobs/ft-000001 ")));

  ListOptions all = one_page;
  all.pages = ListPages::kAll;
  std::ostringstream every;
  ASSERT_TRUE(JobList(*client_, all, OutputFormat::kJson, every).ok());
  const nlohmann::json json = nlohmann::json::parse(every.str());
  ASSERT_EQ(json["jobs"].size(), 3u);
  EXPECT_FALSE(json.contains("nextPageToken"));

  ListOptions by_state;
  by_state.state = "cancelled";  // Any case.
  std::ostringstream filtered;
  ASSERT_TRUE(JobList(*client_, by_state, OutputFormat::kTable, filtered).ok());
  EXPECT_THAT(Lines(filtered.str()), ElementsAre(StartsWith("JOB "), StartsWith("jobs/ft-000002 ")));

  ListOptions bad;
  bad.state = "runing";
  const absl::Status status = JobList(*client_, bad, OutputFormat::kTable, filtered);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("state: unknown job state \"runing\" (one of QUEUED, SCHEDULED, RUNNING"));
}

TEST_F(JobCommandsTest, WatchPrintsALinePerUpdateAndSucceeds) {
  const std::string job = MustSubmit();
  ASSERT_TRUE(inner_->SetState(job, v1::JOB_STATE_RUNNING, "AllRanksReady").ok());
  std::ostringstream out;
  absl::StatusOr<WatchOutcome> outcome;
  std::thread watcher([&] { outcome = JobWatch(*client_, job, OutputFormat::kTable, ProgressStyle::kLines, out); });
  service_->AwaitWatchCalls(1);  // From here on every event is live: a line each.
  const int64_t t0 = 1735787100;
  ASSERT_TRUE(inner_->AppendEvent(job, Metrics(0, std::nullopt, 10.0, std::nullopt, t0)).ok());
  ASSERT_TRUE(inner_->AppendEvent(job, Metrics(10, 2.5, std::nullopt, 1500, t0 + 5)).ok());
  ASSERT_TRUE(inner_->AppendEvent(job, Metrics(20, 2.0, 10.5, 1600, t0 + 15)).ok());  // 1 step/s: 80 s left.
  ASSERT_TRUE(service_->AddLog(job, Log(t0 + 16, v1::LOG_LEVEL_INFO, 0, "saved")).ok());  // Not a change.
  ASSERT_TRUE(inner_->SetState(job, v1::JOB_STATE_EVALUATING, "TrainingDone").ok());
  ASSERT_TRUE(inner_->SetState(job, v1::JOB_STATE_SUCCEEDED, "EvaluationDone").ok());
  watcher.join();

  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->state, v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(WatchExitCode(outcome->state), 0);
  EXPECT_THAT(Lines(out.str()),
              ElementsAre("jobs/ft-000001 RUNNING step 0/100 loss - ppl - - tok/s eta -",
                          "jobs/ft-000001 RUNNING step 0/100 loss - ppl - (base 10.00) - tok/s eta -",
                          "jobs/ft-000001 RUNNING step 10/100 loss 2.5000 ppl - (base 10.00) 1.5k tok/s eta -",
                          "jobs/ft-000001 RUNNING step 20/100 loss 2.0000 ppl 10.50 (base 10.00) 1.6k tok/s eta 1m20s",
                          "jobs/ft-000001 EVALUATING step 20/100 loss 2.0000 ppl 10.50 (base 10.00) 1.6k tok/s eta -",
                          "jobs/ft-000001 SUCCEEDED step 20/100 loss 2.0000 ppl 10.50 (base 10.00) 1.6k tok/s eta -"));
}

TEST_F(JobCommandsTest, WatchFoldsTheHistoryAndReportsFailure) {
  const std::string job = MustSubmit();
  ASSERT_TRUE(inner_->SetState(job, v1::JOB_STATE_RUNNING, "AllRanksReady").ok());
  ASSERT_TRUE(inner_->AppendEvent(job, Metrics(7, 9.75, std::nullopt, 800, 1735787100)).ok());
  ASSERT_TRUE(inner_->SetState(job, v1::JOB_STATE_FAILED, "NaNLoss").ok());

  std::ostringstream out;
  absl::StatusOr<WatchOutcome> outcome = JobWatch(*client_, job, OutputFormat::kTable, ProgressStyle::kLines, out);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  // The history is folded into one line: the job as it is now.
  EXPECT_EQ(out.str(), "jobs/ft-000001 FAILED step 7/100 loss 9.7500 ppl - 800 tok/s eta -\n");
  EXPECT_EQ(outcome->state, v1::JOB_STATE_FAILED);
  EXPECT_EQ(outcome->message, "jobs/ft-000001 FAILED (NaNLoss)");
  EXPECT_EQ(WatchExitCode(outcome->state), 2);

  // On a terminal the line is redrawn in place and ended once.
  std::ostringstream tty;
  ASSERT_TRUE(JobWatch(*client_, job, OutputFormat::kTable, ProgressStyle::kRewrite, tty).ok());
  EXPECT_EQ(tty.str(), "\rjobs/ft-000001 FAILED step 7/100 loss 9.7500 ppl - 800 tok/s eta -\n");
}

TEST_F(JobCommandsTest, WatchOfACancelledJobGivesTheReason) {
  const std::string job = MustSubmit();
  std::ostringstream out;
  ASSERT_TRUE(JobCancel(*client_, job, "superseded by ft-000002", OutputFormat::kTable, out).ok());
  absl::StatusOr<WatchOutcome> outcome = JobWatch(*client_, job, OutputFormat::kTable, ProgressStyle::kLines, out);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->message, "jobs/ft-000001 CANCELLED (CancelledByUser): superseded by ft-000002");
  EXPECT_EQ(WatchExitCode(outcome->state), 3);
  EXPECT_EQ(WatchExitCode(v1::JOB_STATE_EARLY_STOPPED), 4);
}

TEST_F(JobCommandsTest, WatchJsonIsOneEventPerLine) {
  const std::string job = MustSubmit();
  ASSERT_TRUE(inner_->AppendEvent(job, Metrics(1, 3.0, std::nullopt, std::nullopt, 1735787100)).ok());
  ASSERT_TRUE(inner_->SetState(job, v1::JOB_STATE_SUCCEEDED, "EvaluationDone").ok());
  std::ostringstream out;
  ASSERT_TRUE(JobWatch(*client_, job, OutputFormat::kJson, ProgressStyle::kLines, out).ok());
  const std::vector<std::string> lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 3u) << out.str();
  std::vector<nlohmann::json> events;
  for (const std::string& line : lines) events.push_back(nlohmann::json::parse(line));
  EXPECT_EQ(events[0]["sequence"], "1");  // int64 is a string in proto JSON.
  EXPECT_EQ(events[0]["stateChange"]["toState"], "JOB_STATE_QUEUED");
  EXPECT_EQ(events[1]["metrics"]["trainLoss"], 3.0);
  EXPECT_EQ(events[2]["stateChange"]["toState"], "JOB_STATE_SUCCEEDED");
}

TEST_F(JobCommandsTest, JsonOutputParses) {
  const std::string job = MustSubmit();
  std::ostringstream got, listed, cancelled;
  ASSERT_TRUE(JobGet(*client_, job, OutputFormat::kJson, got).ok());
  ASSERT_TRUE(JobList(*client_, {}, OutputFormat::kJson, listed).ok());
  ASSERT_TRUE(JobCancel(*client_, job, "", OutputFormat::kJson, cancelled).ok());
  EXPECT_EQ(nlohmann::json::parse(got.str())["name"], job);
  EXPECT_EQ(nlohmann::json::parse(got.str())["spec"]["baseModel"], "/models/tiny");
  EXPECT_EQ(nlohmann::json::parse(listed.str())["jobs"][0]["state"], "JOB_STATE_QUEUED");
  EXPECT_EQ(nlohmann::json::parse(cancelled.str())["state"], "JOB_STATE_CANCELLED");

  SubmitOptions options;
  options.spec_path = WriteFile("job.yaml", kValidSpec);
  std::ostringstream submitted;
  ASSERT_TRUE(JobSubmit(*client_, options, OutputFormat::kJson, submitted).ok());
  EXPECT_EQ(nlohmann::json::parse(submitted.str())["name"], "jobs/ft-000002");
}

TEST_F(JobCommandsTest, TokenReachesTheServerOnEveryCall) {
  const std::string job = MustSubmit();  // Without a token: no authorization header.
  ASSERT_TRUE(inner_->SetState(job, v1::JOB_STATE_SUCCEEDED, "EvaluationDone").ok());
  std::unique_ptr<JobClient> with_token = MakeClient(address_, "s3cret-token");
  std::ostringstream out;
  ASSERT_TRUE(JobGet(*with_token, job, OutputFormat::kTable, out).ok());
  ASSERT_TRUE(JobList(*with_token, {}, OutputFormat::kTable, out).ok());
  ASSERT_TRUE(JobWatch(*with_token, job, OutputFormat::kTable, ProgressStyle::kLines, out).ok());
  EXPECT_THAT(service_->calls(),
              ElementsAre("SubmitJob <none>", "GetJob Bearer s3cret-token", "ListJobs Bearer s3cret-token",
                          "GetJob Bearer s3cret-token", "WatchJob Bearer s3cret-token"));

  // A server that requires a token says so in one line, with what to do.
  service_->RequireToken("s3cret-token");
  const absl::Status refused = JobGet(*client_, job, OutputFormat::kTable, out);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(std::string(refused.message()),
            "the ftd server at " + address_ +
                " rejected the credentials: missing or invalid bearer token (pass --token or set FTD_TOKEN)");
  EXPECT_TRUE(JobGet(*with_token, job, OutputFormat::kTable, out).ok());

  ConnectionOptions bad;
  bad.server = address_;
  bad.token = "line\nbreak";
  EXPECT_EQ(std::string(JobClient::Create(bad).status().message()), "token: must be printable ASCII");
}

TEST_F(JobCommandsTest, LogsPageThroughAndFilter) {
  const std::string job = MustSubmit();
  service_->set_logs_page_size(2);
  ASSERT_TRUE(service_->AddLog(job, Log(1735787101, v1::LOG_LEVEL_INFO, std::nullopt, "placed on 2 workers")).ok());
  ASSERT_TRUE(service_->AddLog(job, Log(1735787102, v1::LOG_LEVEL_DEBUG, 0, "loading /models/tiny")).ok());
  ASSERT_TRUE(service_->AddLog(job, Log(1735787103, v1::LOG_LEVEL_WARNING, 1, "slow data loader")).ok());

  std::ostringstream out;
  LogsOptions options;
  options.job = job;
  ASSERT_TRUE(JobLogs(*client_, options, OutputFormat::kTable, out).ok());
  EXPECT_EQ(out.str(),
            "2025-01-02T03:05:01Z INFO    [ftd] placed on 2 workers\n"
            "2025-01-02T03:05:02Z DEBUG   [rank 0] loading /models/tiny\n"
            "2025-01-02T03:05:03Z WARNING [rank 1] slow data loader\n");

  std::ostringstream filtered;
  options.min_level = v1::LOG_LEVEL_INFO;
  ASSERT_TRUE(JobLogs(*client_, options, OutputFormat::kJson, filtered).ok());
  const std::vector<std::string> lines = Lines(filtered.str());
  ASSERT_EQ(lines.size(), 2u) << filtered.str();
  EXPECT_EQ(nlohmann::json::parse(lines[1])["text"], "slow data loader");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["level"], "LOG_LEVEL_WARNING");
}

TEST_F(JobCommandsTest, LogsFollowPrintsLiveLinesUntilTheJobEnds) {
  const std::string job = MustSubmit();
  ASSERT_TRUE(service_->AddLog(job, Log(1735787101, v1::LOG_LEVEL_INFO, 0, "step 1")).ok());
  std::ostringstream out;
  absl::Status followed;
  std::thread follower([&] {
    LogsOptions options;
    options.job = job;
    options.follow = LogFollow::kFollow;
    followed = JobLogs(*client_, options, OutputFormat::kTable, out);
  });
  service_->AwaitWatchCalls(1);
  ASSERT_TRUE(service_->AddLog(job, Log(1735787102, v1::LOG_LEVEL_INFO, 0, "step 2")).ok());
  ASSERT_TRUE(inner_->SetState(job, v1::JOB_STATE_SUCCEEDED, "EvaluationDone").ok());
  follower.join();
  ASSERT_TRUE(followed.ok()) << followed;
  // The stored line once (from GetJobLogs, not again from the history), then the live one.
  EXPECT_EQ(out.str(),
            "2025-01-02T03:05:01Z INFO    [rank 0] step 1\n"
            "2025-01-02T03:05:02Z INFO    [rank 0] step 2\n");
}

TEST_F(JobCommandsTest, Checkpoints) {
  const std::string job = MustSubmit();
  for (const int step : {50, 100}) {
    v1::Checkpoint c;
    c.set_name(absl::StrCat(job, "/checkpoints/step-", step));
    c.set_step(step);
    c.set_epoch(step / 100.0);
    c.set_kind(v1::CHECKPOINT_KIND_ADAPTER);
    c.set_size_bytes(3 * 1024 * 1024);
    c.mutable_metrics()->set_train_loss(2.0 - step / 100.0);
    if (step == 50) c.mutable_metrics()->set_eval_general_perplexity(10.25);
    c.set_is_best(step == 50);
    *c.mutable_create_time() = ProtoTime(1735787200 + step);
    service_->AddCheckpoint(job, c);
  }
  std::ostringstream out;
  ASSERT_TRUE(JobCheckpoints(*client_, "ft-000001", OutputFormat::kTable, out).ok());
  EXPECT_EQ(out.str(),
            "CHECKPOINT                           STEP  EPOCH  KIND     SIZE     TRAIN LOSS  EVAL LOSS  GENERAL PPL  "
            "BEST  CREATED\n"
            "jobs/ft-000001/checkpoints/step-50   50    0.50   adapter  3.0 MiB  1.5000      -          10.25        "
            "*     2025-01-02T03:07:30Z\n"
            "jobs/ft-000001/checkpoints/step-100  100   1.00   adapter  3.0 MiB  1.0000      -          -            "
            "      2025-01-02T03:08:20Z\n");
  std::ostringstream json;
  ASSERT_TRUE(JobCheckpoints(*client_, job, OutputFormat::kJson, json).ok());
  EXPECT_EQ(nlohmann::json::parse(json.str())["checkpoints"][0]["isBest"], true);
}

TEST_F(JobCommandsTest, UnimplementedRpcNamesTheServerAndRpc) {
  // The in-memory service itself, without the wrapper, serves no logs: as an older server would answer.
  absl::StatusOr<LocalServer> bare = StartLocalServer(inner_.get());
  ASSERT_TRUE(bare.ok());
  const std::string address = absl::StrCat("127.0.0.1:", bare->port);
  std::unique_ptr<JobClient> client = MakeClient(address, "");
  std::ostringstream out;
  LogsOptions options;
  options.job = "ft-000001";
  const absl::Status status = JobLogs(*client, options, OutputFormat::kTable, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(status.message()),
              StartsWith("the ftd server at " + address + " does not implement GetJobLogs"));
  bare->server->Shutdown();
}

}  // namespace
}  // namespace ftd
