// The coordinator's JobService over a real CoordinatorStore in a temp directory, served on 127.0.0.1:0: what only
// the real service does (the shared contract suite runs in job_service_contract_test.cc): state that survives a
// restart, watches woken by the JobEvents hub, the submit-time placement check, logs and checkpoints from the store.
#include "coordinator/service/job_service.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/checkpoint/checkpoint_io.h"
#include "coordinator/scheduler/memory_estimate.h"
#include "coordinator/service/job_events.h"
#include "coordinator/service/placement_check.h"
#include "coordinator/store/coordinator_store.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "model/model_config.h"
#include "tests/coordinator/job_service_testing.h"
#include "tests/proto/job_service_contract.h"
#include "tests/proto/local_server.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

using google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

StoredWorker GpuWorker(const std::string& id, int64_t memory_bytes, int gpus = 1) {
  StoredWorker worker;
  worker.worker_id = id;
  worker.registration.set_host(absl::StrCat(id, "-host"));
  for (int i = 0; i < gpus; ++i) {
    v1::GpuDevice& gpu = *worker.registration.add_gpus();
    gpu.set_index(i);
    gpu.set_name("NVIDIA H200");
    gpu.set_memory_bytes(memory_bytes);
  }
  worker.registration.mutable_cpu()->set_cores(16);
  worker.registration.mutable_cpu()->set_memory_bytes(int64_t{128} << 30);
  return worker;
}

StoredWorker CpuWorker(const std::string& id, int64_t memory_bytes) {
  StoredWorker worker;
  worker.worker_id = id;
  worker.registration.set_host(absl::StrCat(id, "-host"));
  worker.registration.mutable_cpu()->set_cores(8);
  worker.registration.mutable_cpu()->set_memory_bytes(memory_bytes);
  return worker;
}

v1::LogLine Line(const std::string& text, v1::LogLevel level, std::optional<int32_t> rank) {
  v1::LogLine line;
  line.set_text(text);
  line.set_level(level);
  if (rank.has_value()) line.set_rank(*rank);
  return line;
}

class CoordinatorJobServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void TearDown() override { Stop(); }

  void Start() {
    absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(dir_.file("store"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    events_ = std::make_unique<JobEvents>();
    JobServiceOptions options;
    // Only the watch that is never published to depends on this; every other wake-up comes from the hub.
    options.watch_cancel_check_interval = absl::Milliseconds(20);
    absl::StatusOr<std::unique_ptr<CoordinatorJobService>> service =
        CoordinatorJobService::Create(*store_, *events_, [this] { return clock_.Now(); }, options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    absl::StatusOr<LocalServer> server = StartLocalServer(service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::JobService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_.port), grpc::InsecureChannelCredentials()));
  }

  // Everything down in the daemon's order; the store directory stays.
  void Stop() {
    if (events_ != nullptr) events_->Shutdown();
    if (server_.server != nullptr) server_.server->Shutdown();
    stub_.reset();
    server_ = LocalServer();
    service_.reset();
    events_.reset();
    store_.reset();
  }

  static void SetDeadline(grpc::ClientContext& context) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  }

  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (v1::JobService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    SetDeadline(context);
    return (stub_.get()->*method)(&context, request, response);
  }

  static v1::JobSpec Spec(const std::string& name) {
    v1::JobSpec spec;
    spec.set_name(name);
    spec.set_base_model(kTinyLlama);
    spec.add_datasets()->set_path("/data/train.jsonl");
    return spec;
  }

  grpc::Status Submit(const v1::JobSpec& spec, v1::Job* job, const std::string& request_id = "",
                      bool validate_only = false) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    request.set_request_id(request_id);
    request.set_validate_only(validate_only);
    return Call(&v1::JobService::Stub::SubmitJob, request, job);
  }

  v1::Job MustSubmit(const v1::JobSpec& spec, const std::string& request_id = "") {
    v1::Job job;
    const grpc::Status status = Submit(spec, &job, request_id);
    EXPECT_TRUE(status.ok()) << status.error_message();
    clock_.Advance(absl::Seconds(1));
    return job;
  }

  grpc::Status Get(const std::string& name, v1::Job* job) {
    v1::GetJobRequest request;
    request.set_name(name);
    return Call(&v1::JobService::Stub::GetJob, request, job);
  }

  grpc::Status Logs(const std::string& name, int page_size, const std::string& token, v1::GetJobLogsResponse* out,
                    std::optional<int32_t> rank = std::nullopt, v1::LogLevel min_level = v1::LOG_LEVEL_UNSPECIFIED) {
    v1::GetJobLogsRequest request;
    request.set_name(name);
    request.set_page_size(page_size);
    request.set_page_token(token);
    if (rank.has_value()) request.set_rank(*rank);
    request.set_min_level(min_level);
    return Call(&v1::JobService::Stub::GetJobLogs, request, out);
  }

  grpc::Status Checkpoints(const std::string& parent, int page_size, const std::string& token,
                           v1::ListCheckpointsResponse* out) {
    v1::ListCheckpointsRequest request;
    request.set_parent(parent);
    request.set_page_size(page_size);
    request.set_page_token(token);
    return Call(&v1::JobService::Stub::ListCheckpoints, request, out);
  }

  // What the service will estimate for `spec` on the tiny model.
  static MemoryEstimate Estimate(const v1::JobSpec& resolved) {
    absl::StatusOr<LlamaConfig> config = LoadLlamaConfig(kTinyLlama);
    EXPECT_TRUE(config.ok()) << config.status();
    absl::StatusOr<MemoryEstimate> estimate = EstimateRankMemory(ModelShapeOf(*config), TrainShapeOf(resolved));
    EXPECT_TRUE(estimate.ok()) << estimate.status();
    return estimate.ok() ? *estimate : MemoryEstimate{};
  }

  FakeClock clock_;
  TempDir dir_{"ftd_job_service"};
  std::unique_ptr<CoordinatorStore> store_;
  std::unique_ptr<JobEvents> events_;
  std::unique_ptr<CoordinatorJobService> service_;
  LocalServer server_;
  std::unique_ptr<v1::JobService::Stub> stub_;
};

TEST_F(CoordinatorJobServiceTest, SubmittedJobsSurviveARestartAndIdsAreNeverReused) {
  const v1::Job first = MustSubmit(Spec("first"), "request-1");
  const v1::Job second = MustSubmit(Spec("second"));
  v1::CancelJobRequest cancel;
  cancel.set_name(second.name());
  v1::Job cancelled;
  ASSERT_TRUE(Call(&v1::JobService::Stub::CancelJob, cancel, &cancelled).ok());

  Stop();  // The coordinator goes away; only the store directory remains.
  Start();

  v1::Job got;
  ASSERT_TRUE(Get(first.name(), &got).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(got, first)) << got.DebugString();
  ASSERT_TRUE(Get(second.name(), &got).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(got, cancelled));
  // The request_id is remembered across the restart: the retry gets the first job back, a different spec is refused.
  v1::Job retried;
  ASSERT_TRUE(Submit(Spec("first"), &retried, "request-1").ok());
  EXPECT_EQ(retried.name(), first.name());
  EXPECT_EQ(Submit(Spec("changed"), &retried, "request-1").error_code(), grpc::StatusCode::ALREADY_EXISTS);
  // Numbering continues above every stored job.
  EXPECT_EQ(MustSubmit(Spec("third")).name(), "jobs/ft-000003");
  // The history too: a watch from the start replays the second job's two events and ends.
  grpc::ClientContext context;
  SetDeadline(context);
  v1::WatchJobRequest watch;
  watch.set_name(second.name());
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = stub_->WatchJob(&context, watch);
  std::vector<int64_t> sequences;
  v1::JobEvent event;
  while (reader->Read(&event)) sequences.push_back(event.sequence());
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_THAT(sequences, ElementsAre(1, 2));
}

TEST_F(CoordinatorJobServiceTest, WatchReplaysThenStreamsWhatTheSchedulerAndWorkersAppend) {
  const v1::Job job = MustSubmit(Spec("watched"));
  grpc::ClientContext context;
  SetDeadline(context);
  v1::WatchJobRequest watch;
  watch.set_name(job.name());
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = stub_->WatchJob(&context, watch);
  v1::JobEvent event;
  ASSERT_TRUE(reader->Read(&event));  // The replay: the Submitted event. The stream is open from here on.
  EXPECT_EQ(event.state_change().reason(), "Submitted");

  const absl::Time now = clock_.Now();
  ASSERT_TRUE(SetState(*store_, *events_, job.name(), v1::JOB_STATE_SCHEDULED, "Placed", now).ok());
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 2);
  EXPECT_EQ(event.state_change().to_state(), v1::JOB_STATE_SCHEDULED);
  EXPECT_EQ(event.time().seconds(), absl::ToUnixSeconds(now));

  ASSERT_TRUE(SetState(*store_, *events_, job.name(), v1::JOB_STATE_RUNNING, "AllRanksReady", now).ok());
  v1::JobEvent metrics;
  metrics.mutable_metrics()->set_step(5);
  ASSERT_TRUE(Append(*store_, *events_, job.name(), metrics, now).ok());
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.state_change().to_state(), v1::JOB_STATE_RUNNING);
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.metrics().step(), 5);

  // A writer that forgets to publish is still seen: the watch re-reads the store on its check interval.
  absl::StatusOr<v1::Job> unpublished = store_->AppendEvents("ft-000001", {metrics});
  ASSERT_TRUE(unpublished.ok()) << unpublished.status();
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 5);

  ASSERT_TRUE(SetState(*store_, *events_, job.name(), v1::JOB_STATE_EARLY_STOPPED, "GuardrailFired", now).ok());
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 6);
  EXPECT_EQ(event.state_change().to_state(), v1::JOB_STATE_EARLY_STOPPED);
  EXPECT_FALSE(reader->Read(&event)) << "the stream ends after the terminal state";
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(CoordinatorJobServiceTest, WatchEndsWhenTheClientCancelsOrTheCoordinatorStops) {
  const v1::Job job = MustSubmit(Spec("watched"));
  v1::WatchJobRequest watch;
  watch.set_name(job.name());
  v1::JobEvent event;

  grpc::ClientContext cancelled_context;
  SetDeadline(cancelled_context);
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> cancelled = stub_->WatchJob(&cancelled_context, watch);
  ASSERT_TRUE(cancelled->Read(&event));
  cancelled_context.TryCancel();
  EXPECT_FALSE(cancelled->Read(&event));
  EXPECT_EQ(cancelled->Finish().error_code(), grpc::StatusCode::CANCELLED);

  grpc::ClientContext context;
  SetDeadline(context);
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = stub_->WatchJob(&context, watch);
  ASSERT_TRUE(reader->Read(&event));
  events_->Shutdown();  // What the daemon does before it stops the gRPC server.
  EXPECT_FALSE(reader->Read(&event));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("shutting down"));
}

TEST_F(CoordinatorJobServiceTest, CancelOfAnEndedJobIsAFailedPreconditionAndWritesNothing) {
  const v1::Job job = MustSubmit(Spec("done"));
  const absl::Time now = clock_.Now();
  for (v1::JobState state : {v1::JOB_STATE_SCHEDULED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_EVALUATING,
                             v1::JOB_STATE_SUCCEEDED}) {
    ASSERT_TRUE(SetState(*store_, *events_, job.name(), state, "Test", now).ok());
  }
  v1::CancelJobRequest cancel;
  cancel.set_name(job.name());
  v1::Job out;
  const grpc::Status status = Call(&v1::JobService::Stub::CancelJob, cancel, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr(job.name()));
  EXPECT_THAT(status.error_message(), HasSubstr("SUCCEEDED"));
  v1::Job stored;
  ASSERT_TRUE(Get(job.name(), &stored).ok());
  EXPECT_EQ(stored.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(stored.last_event_sequence(), 5);

  // A running job is cancelled from any live state; the event records the reason.
  const v1::Job running = MustSubmit(Spec("running"));
  ASSERT_TRUE(SetState(*store_, *events_, running.name(), v1::JOB_STATE_SCHEDULED, "Placed", now).ok());
  ASSERT_TRUE(SetState(*store_, *events_, running.name(), v1::JOB_STATE_RUNNING, "AllRanksReady", now).ok());
  cancel.set_name(running.name());
  cancel.set_reason("budget");
  ASSERT_TRUE(Call(&v1::JobService::Stub::CancelJob, cancel, &out).ok());
  EXPECT_EQ(out.state(), v1::JOB_STATE_CANCELLED);
  EXPECT_TRUE(out.has_start_time());
  EXPECT_TRUE(out.has_end_time());
  absl::StatusOr<std::vector<v1::JobEvent>> events = store_->ListEvents("ft-000002", 3, 10);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].state_change().from_state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ((*events)[0].state_change().reason(), "CancelledByUser");
  EXPECT_EQ((*events)[0].state_change().message(), "budget");
}

TEST_F(CoordinatorJobServiceTest, SubmitWithNoWorkersIsAcceptedAndTheEventCarriesTheEstimate) {
  v1::JobSpec spec = Spec("unplaced");
  const v1::Job job = MustSubmit(spec);
  ASSERT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  absl::StatusOr<std::vector<v1::JobEvent>> events = store_->ListEvents("ft-000001", 0, 10);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);
  const std::string& message = (*events)[0].state_change().message();
  EXPECT_THAT(message, HasSubstr(Estimate(job.resolved_spec()).Describe()));
  EXPECT_THAT(message, HasSubstr("no worker is registered"));
}

TEST_F(CoordinatorJobServiceTest, SubmitRefusesAJobNoRegisteredWorkerCouldHoldNamingTheEstimate) {
  v1::JobSpec spec = Spec("too-big");
  spec.set_device(v1::DEVICE_CUDA);
  spec.set_world_size(2);
  v1::Job would_be;
  ASSERT_TRUE(Submit(spec, &would_be, "", /*validate_only=*/true).ok());
  const MemoryEstimate estimate = Estimate(would_be.resolved_spec());
  ASSERT_GT(estimate.total_bytes, int64_t{1} << 30);  // The CUDA workspace alone is 1 GiB.

  // Two GPUs too small for a rank, one large enough but a gang needs two, and a CPU worker of the wrong kind.
  ASSERT_TRUE(store_->PutWorker(GpuWorker("small", int64_t{512} << 20, 2)).ok());
  ASSERT_TRUE(store_->PutWorker(GpuWorker("large", int64_t{141} << 30)).ok());
  ASSERT_TRUE(store_->PutWorker(CpuWorker("cpu", int64_t{256} << 30)).ok());
  v1::Job job;
  grpc::Status status = Submit(spec, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr(estimate.Describe()));
  EXPECT_THAT(status.error_message(), HasSubstr("3 cuda slots are registered, 1 of them with enough memory"));
  // validate_only answers what the submit would.
  EXPECT_EQ(Submit(spec, &job, "", /*validate_only=*/true).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  // A second large GPU makes the gang placeable; the Submitted event says how many slots could hold a rank.
  ASSERT_TRUE(store_->PutWorker(GpuWorker("large-2", int64_t{141} << 30)).ok());
  status = Submit(spec, &job);
  ASSERT_TRUE(status.ok()) << status.error_message();
  absl::StatusOr<std::vector<v1::JobEvent>> events = store_->ListEvents("ft-000001", 0, 10);
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_THAT((*events)[0].state_change().message(), HasSubstr("2 registered cuda slots could hold a rank"));

  // A CPU job goes to the CPU worker's single slot.
  spec.set_device(v1::DEVICE_CPU);
  spec.set_world_size(1);
  EXPECT_TRUE(Submit(spec, &job).ok());
  spec.set_world_size(2);
  EXPECT_EQ(Submit(spec, &job).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(CoordinatorJobServiceTest, AnUnreadableBaseModelIsAnInvalidArgumentNamingIt) {
  TempDir empty("ftd_no_model");
  for (const std::string& base_model : {absl::StrCat(dir_.path(), "/no-such-model"), empty.path()}) {
    v1::JobSpec spec = Spec("no-config");
    spec.set_base_model(base_model);
    v1::Job job;
    for (bool validate_only : {false, true}) {
      const grpc::Status status = Submit(spec, &job, "", validate_only);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << base_model;
      EXPECT_THAT(status.error_message(), HasSubstr("spec.base_model"));
      EXPECT_THAT(status.error_message(), HasSubstr(base_model));
    }
  }
  v1::ListJobsResponse listed;
  ASSERT_TRUE(Call(&v1::JobService::Stub::ListJobs, v1::ListJobsRequest(), &listed).ok());
  EXPECT_THAT(listed.jobs(), IsEmpty());
}

TEST_F(CoordinatorJobServiceTest, GetJobLogsPagesTheLogEventsWithRankAndLevelFilters) {
  const v1::Job job = MustSubmit(Spec("logged"));
  const absl::Time now = clock_.Now();
  const std::vector<v1::LogLine> lines = {
      Line("coordinator says hi", v1::LOG_LEVEL_INFO, std::nullopt), Line("rank 0 loads", v1::LOG_LEVEL_DEBUG, 0),
      Line("rank 1 loads", v1::LOG_LEVEL_INFO, 1),                  Line("rank 1 is slow", v1::LOG_LEVEL_WARNING, 1),
      Line("rank 0 failed", v1::LOG_LEVEL_ERROR, 0)};
  for (size_t i = 0; i < lines.size(); ++i) {
    v1::JobEvent event;
    *event.mutable_log() = lines[i];
    ASSERT_TRUE(Append(*store_, *events_, job.name(), event, now).ok());
    v1::JobEvent metrics;  // Events that are not log lines are skipped over.
    metrics.mutable_metrics()->set_step(static_cast<int64_t>(i));
    ASSERT_TRUE(Append(*store_, *events_, job.name(), metrics, now).ok());
  }

  std::vector<std::string> texts;
  std::vector<int> page_sizes;
  std::string token;
  for (int page = 0; page < 10; ++page) {
    v1::GetJobLogsResponse response;
    ASSERT_TRUE(Logs(job.name(), 2, token, &response).ok());
    for (const v1::LogLine& line : response.lines()) texts.push_back(line.text());
    page_sizes.push_back(response.lines_size());
    token = response.next_page_token();
    if (token.empty()) break;
  }
  EXPECT_THAT(texts, ElementsAre("coordinator says hi", "rank 0 loads", "rank 1 loads", "rank 1 is slow",
                                 "rank 0 failed"));
  EXPECT_THAT(page_sizes, ElementsAre(2, 2, 1));

  v1::GetJobLogsResponse response;
  ASSERT_TRUE(Logs(job.name(), 0, "", &response, 1).ok());
  ASSERT_EQ(response.lines_size(), 2);
  EXPECT_EQ(response.lines(1).text(), "rank 1 is slow");
  EXPECT_EQ(response.next_page_token(), "");
  ASSERT_TRUE(Logs(job.name(), 0, "", &response, std::nullopt, v1::LOG_LEVEL_WARNING).ok());
  ASSERT_EQ(response.lines_size(), 2);
  EXPECT_EQ(response.lines(0).text(), "rank 1 is slow");
  EXPECT_EQ(response.lines(1).text(), "rank 0 failed");
  // Exactly a page of matches: no token that would lead to an empty page.
  ASSERT_TRUE(Logs(job.name(), 2, "", &response, 0).ok());
  EXPECT_EQ(response.lines_size(), 2);
  EXPECT_EQ(response.next_page_token(), "");

  ASSERT_TRUE(Logs(job.name(), 1, "", &response).ok());
  const std::string first_token = response.next_page_token();
  const v1::Job other = MustSubmit(Spec("other"));
  EXPECT_EQ(Logs(other.name(), 1, first_token, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Logs(job.name(), 1, "garbage", &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Logs(job.name(), -1, "", &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const grpc::Status missing = Logs("jobs/nope", 1, "", &response);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(missing.error_message(), HasSubstr("jobs/nope"));
}

TEST_F(CoordinatorJobServiceTest, ListCheckpointsDecodesTheCommittedManifests) {
  const v1::Job job = MustSubmit(Spec("checkpointed"));
  v1::ListCheckpointsResponse response;
  ASSERT_TRUE(Checkpoints(job.name(), 0, "", &response).ok());
  EXPECT_THAT(response.checkpoints(), IsEmpty());

  absl::StatusOr<std::unique_ptr<CheckpointStore>> checkpoints = store_->Checkpoints("ft-000001");
  ASSERT_TRUE(checkpoints.ok()) << checkpoints.status();
  // Steps out of name order, so the listing must sort by step; a writer that never commits leaves no checkpoint.
  for (int64_t step : {200, 30, 1000}) {
    absl::StatusOr<CheckpointWriter> writer =
        CheckpointWriter::Begin(checkpoints->get(), absl::StrCat("ckpt-", step), /*chunk_bytes=*/100);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE(writer->AddFile("adapter.safetensors", std::string(250, 'a')).ok());
    ASSERT_TRUE(writer->AddFile("optimizer.safetensors", std::string(static_cast<size_t>(step), 'o')).ok());
    ASSERT_TRUE(writer->Commit(step, "{}").ok());
  }
  {
    absl::StatusOr<CheckpointWriter> abandoned = CheckpointWriter::Begin(checkpoints->get(), "ckpt-5000", 100);
    ASSERT_TRUE(abandoned.ok());
    ASSERT_TRUE(abandoned->AddFile("adapter.safetensors", "partial").ok());
  }
  ASSERT_TRUE(store_
                  ->UpdateJob("ft-000001",
                              [](v1::Job& stored, std::vector<v1::JobEvent>&) {
                                stored.set_best_checkpoint("jobs/ft-000001/checkpoints/ckpt-200");
                                return absl::OkStatus();
                              })
                  .ok());

  ASSERT_TRUE(Checkpoints(job.name(), 0, "", &response).ok());
  ASSERT_EQ(response.checkpoints_size(), 3);
  const v1::Checkpoint& first = response.checkpoints(0);
  EXPECT_EQ(first.name(), "jobs/ft-000001/checkpoints/ckpt-30");
  EXPECT_EQ(first.step(), 30);
  EXPECT_EQ(first.kind(), v1::CHECKPOINT_KIND_ADAPTER);
  ASSERT_EQ(first.files_size(), 2);
  EXPECT_EQ(first.files(0).path(), "adapter.safetensors");
  EXPECT_EQ(first.files(0).size_bytes(), 250);
  EXPECT_EQ(first.files(1).size_bytes(), 30);
  EXPECT_EQ(first.size_bytes(), 280);
  EXPECT_EQ(first.chunk_count(), 4);  // 250 bytes in 100-byte chunks, then 30.
  EXPECT_FALSE(first.is_best());
  EXPECT_EQ(response.checkpoints(1).step(), 200);
  EXPECT_TRUE(response.checkpoints(1).is_best());
  EXPECT_EQ(response.checkpoints(2).step(), 1000);
  EXPECT_EQ(response.checkpoints(2).chunk_count(), 13);
  EXPECT_EQ(response.next_page_token(), "");

  std::vector<int64_t> steps;
  std::string token;
  for (int page = 0; page < 10; ++page) {
    ASSERT_TRUE(Checkpoints(job.name(), 1, token, &response).ok());
    for (const v1::Checkpoint& checkpoint : response.checkpoints()) steps.push_back(checkpoint.step());
    token = response.next_page_token();
    if (token.empty()) break;
  }
  EXPECT_THAT(steps, ElementsAre(30, 200, 1000));

  EXPECT_EQ(Checkpoints("jobs/nope", 0, "", &response).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Checkpoints("nope", 0, "", &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CoordinatorJobServiceTest, UnknownReportsAndEmptyDownloadsNameTheCause) {
  v1::GetTransferReportRequest report_request;
  report_request.set_name("jobs/ft-000001/transferReport");
  v1::TransferReport report;
  const grpc::Status report_status = Call(&v1::JobService::Stub::GetTransferReport, report_request, &report);
  // GetTransferReport is implemented (report_command_test covers it): an unknown job's report is NOT_FOUND.
  EXPECT_EQ(report_status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(report_status.error_message(), HasSubstr("jobs/ft-000001"));
  grpc::ClientContext context;
  SetDeadline(context);
  std::unique_ptr<grpc::ClientReader<v1::DownloadArtifactResponse>> reader =
      stub_->DownloadArtifact(&context, v1::DownloadArtifactRequest());
  v1::DownloadArtifactResponse chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  const grpc::Status download = reader->Finish();
  // DownloadArtifact is implemented (artifact_export_test covers it): an empty source is the caller's to fix.
  EXPECT_EQ(download.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(download.error_message(), HasSubstr("source"));
}

// A stand-alone evaluation is a job that trains nothing: RunEvaluation checks the request, stores the job (QUEUED,
// evaluation set, its role TUNED) and answers its Evaluation view; GetEvaluation reads it back; a request_id retry
// returns it; a training job is no evaluation.
TEST_F(CoordinatorJobServiceTest, RunEvaluationStoresAJobThatTrainsNothingAndGetEvaluationViewsIt) {
  const auto run = [&](const v1::RunEvaluationRequest& request, v1::Evaluation* out) {
    return Call(&v1::JobService::Stub::RunEvaluation, request, out);
  };
  v1::RunEvaluationRequest request;
  request.mutable_target()->set_model_path(kTinyLlama);
  v1::Benchmark& piqa = *request.add_benchmarks();
  piqa.set_suite(v1::BENCHMARK_SUITE_PIQA);
  piqa.set_path("/data/piqa/valid.jsonl");
  piqa.set_limit(20);
  request.set_device(v1::DEVICE_CPU);
  request.set_request_id("eval-1");

  // Bad requests: each names its cause and stores nothing.
  v1::Evaluation evaluation;
  const struct {
    std::function<void(v1::RunEvaluationRequest&)> spoil;
    grpc::StatusCode code;
    std::string says;
  } bad[] = {
      {[](v1::RunEvaluationRequest& r) { r.clear_target(); }, grpc::StatusCode::INVALID_ARGUMENT, "target: required"},
      {[](v1::RunEvaluationRequest& r) { r.clear_benchmarks(); }, grpc::StatusCode::INVALID_ARGUMENT,
       "benchmarks: at least one"},
      {[](v1::RunEvaluationRequest& r) { r.mutable_benchmarks(0)->clear_path(); }, grpc::StatusCode::INVALID_ARGUMENT,
       "benchmarks[0].path: required"},
      {[](v1::RunEvaluationRequest& r) { r.set_world_size(2); }, grpc::StatusCode::INVALID_ARGUMENT,
       "world_size: a stand-alone evaluation runs on one rank"},
      {[](v1::RunEvaluationRequest& r) { r.mutable_target()->mutable_adapter()->set_base_model(kTinyLlama); },
       grpc::StatusCode::INVALID_ARGUMENT, "target.adapter.adapter_path: required"},
      {[](v1::RunEvaluationRequest& r) { r.mutable_target()->set_checkpoint("jobs/ft-000099"); },
       grpc::StatusCode::NOT_FOUND, "job jobs/ft-000099 not found"},
      {[](v1::RunEvaluationRequest& r) { r.mutable_target()->set_checkpoint("jobs/ft-000099/checkpoints/step-5"); },
       grpc::StatusCode::FAILED_PRECONDITION, "only a job's final result can be scored"},
      {[](v1::RunEvaluationRequest& r) { r.mutable_baseline()->set_checkpoint("nope"); },
       grpc::StatusCode::INVALID_ARGUMENT, "baseline.checkpoint"},
  };
  for (const auto& [spoil, code, says] : bad) {
    v1::RunEvaluationRequest spoilt = request;
    spoil(spoilt);
    const grpc::Status status = run(spoilt, &evaluation);
    EXPECT_EQ(status.error_code(), code) << says << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(says));
  }
  // A training job without a final result cannot be a target yet.
  const v1::Job training = MustSubmit(Spec("trains"));
  v1::RunEvaluationRequest of_job = request;
  of_job.mutable_target()->set_checkpoint(training.name());
  of_job.clear_request_id();
  const grpc::Status unfinished = run(of_job, &evaluation);
  EXPECT_EQ(unfinished.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(unfinished.error_message(), HasSubstr("has no final result yet (state QUEUED)"));

  ASSERT_TRUE(run(request, &evaluation).ok());
  EXPECT_EQ(evaluation.name(), "evaluations/ft-000002");
  EXPECT_EQ(evaluation.job(), "jobs/ft-000002");
  EXPECT_EQ(evaluation.state(), v1::EVALUATION_STATE_QUEUED);
  EXPECT_EQ(evaluation.request().target().model_path(), kTinyLlama);
  EXPECT_EQ(evaluation.request().world_size(), 1);
  v1::Job job;
  ASSERT_TRUE(Get(evaluation.job(), &job).ok());
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_TRUE(job.has_evaluation());
  EXPECT_EQ(job.evaluation_role(), v1::EVALUATION_ROLE_TUNED);
  EXPECT_EQ(job.resolved_spec().base_model(), kTinyLlama);
  EXPECT_EQ(job.resolved_spec().device(), v1::DEVICE_CPU);
  EXPECT_EQ(job.resolved_spec().world_size(), 1);
  ASSERT_EQ(job.resolved_spec().benchmarks_size(), 1);
  EXPECT_EQ(job.resolved_spec().benchmarks(0).limit(), 20);
  EXPECT_TRUE(job.resolved_spec().datasets().empty());

  v1::Evaluation retried;
  ASSERT_TRUE(run(request, &retried).ok());
  EXPECT_EQ(retried.name(), evaluation.name());
  v1::RunEvaluationRequest changed = request;
  changed.mutable_benchmarks(0)->set_limit(30);
  EXPECT_EQ(run(changed, &retried).error_code(), grpc::StatusCode::ALREADY_EXISTS);

  v1::GetEvaluationRequest get;
  get.set_name(evaluation.name());
  v1::Evaluation got;
  ASSERT_TRUE(Call(&v1::JobService::Stub::GetEvaluation, get, &got).ok());
  EXPECT_EQ(got.name(), evaluation.name());
  EXPECT_EQ(got.state(), v1::EVALUATION_STATE_QUEUED);
  EXPECT_TRUE(got.results().empty());
  EXPECT_FALSE(got.has_report());
  get.set_name("evaluations/ft-000001");
  grpc::Status status = Call(&v1::JobService::Stub::GetEvaluation, get, &got);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("is a training job"));
  get.set_name("jobs/ft-000002");
  EXPECT_EQ(Call(&v1::JobService::Stub::GetEvaluation, get, &got).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace ftd
