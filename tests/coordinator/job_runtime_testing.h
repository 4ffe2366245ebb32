// The JobRuntime tests' fixture: a real CoordinatorStore in a temp directory, the WorkerService (with the runtime
// attached) on 127.0.0.1:0 so WatchAssignments streams show the commands workers get, a SchedulingLoop that places a
// two-rank CPU job on two registered workers, and a fake clock; plus helpers for reports, uploads and events.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "coordinator/service/job_events.h"
#include "coordinator/service/job_runtime.h"
#include "coordinator/service/job_updates.h"
#include "coordinator/service/scheduling_loop.h"
#include "coordinator/service/worker_service.h"
#include "coordinator/store/coordinator_store.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_store_testing.h"
#include "tests/proto/local_server.h"
#include "tests/coordinator/worker_calls.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace ftd {

inline constexpr char kJobId[] = "ft-000001";
inline constexpr char kJob[] = "jobs/ft-000001";


inline absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// One open WatchAssignments stream; closed (cancelled and reaped) when destroyed.
struct AssignmentStream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::WorkerCommand>> reader;

  ~AssignmentStream() {
    context.TryCancel();
    v1::WorkerCommand ignored;
    while (reader->Read(&ignored)) {
    }
    (void)reader->Finish();
  }

  // The next command; a failed test (not a hang) when none comes within the stream's deadline.
  v1::WorkerCommand Next() {
    v1::WorkerCommand command;
    EXPECT_TRUE(reader->Read(&command)) << "the stream ended without a command";
    return command;
  }
};

struct StoredFile {
  std::string path;
  std::string bytes;
};

class JobRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(dir_.file("store"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    WorkerServiceOptions options;
    options.lease_duration = absl::Seconds(30);
    options.coordinator_version = "0.1.0";
    options.wait_cancel_check_interval = absl::Milliseconds(20);
    absl::StatusOr<std::unique_ptr<CoordinatorWorkerService>> service =
        CoordinatorWorkerService::Create(*store_, [this] { return clock_.Now(); }, options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    JobRuntimeOptions runtime_options;
    runtime_options.checkpoint_chunk_bytes = 100;
    runtime_ = std::make_unique<JobRuntime>(*store_, events_, *service_, [this] { return clock_.Now(); },
                                            runtime_options);
    service_->AttachRuntime(runtime_.get());
    absl::StatusOr<LocalServer> server = StartLocalServer(service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::WorkerService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_.port), grpc::InsecureChannelCredentials()));
    SchedulingLoopOptions loop_options;
    loop_options.rank_memory = [](const v1::JobSpec&) -> absl::StatusOr<int64_t> { return int64_t{1} << 20; };
    loop_ = std::make_unique<SchedulingLoop>(*store_, events_, *service_, [this] { return clock_.Now(); },
                                             loop_options);
    w1_ = Register("cpu-node-1");
    w2_ = Register("cpu-node-2");
  }

  void TearDown() override {
    events_.Shutdown();
    service_->Shutdown();
    server_.server->Shutdown();
  }

  std::string Register(const std::string& host) { return RegisterCpuWorker(*stub_, host); }
  bool Heartbeat(const std::string& worker) { return HeartbeatWorker(*stub_, worker); }

  // Stores a QUEUED two-rank CPU job as SubmitJob would (`tweak` edits its resolved spec), then runs a scheduling
  // cycle that places it on the two workers.
  void QueueAndPlace(const std::function<void(v1::JobSpec&)>& tweak = nullptr) {
    QueueJobAndPlace([&](v1::Job& job) {
      if (tweak) tweak(*job.mutable_resolved_spec());
    });
  }

  // The same for any job: `tweak` edits the stored Job (its resolved spec starts as QueueAndPlace's, the submitted
  // spec is copied from it afterwards); the job must be placed whole in one cycle.
  void QueueJobAndPlace(const std::function<void(v1::Job&)>& tweak, const std::string& reason = "Submitted") {
    v1::Job job;
    job.set_name(JobName());
    v1::JobSpec& spec = *job.mutable_resolved_spec();
    spec.set_base_model("/models/tiny");
    spec.set_method(v1::METHOD_LORA);
    spec.set_device(v1::DEVICE_CPU);
    spec.set_world_size(2);
    tweak(job);
    *job.mutable_spec() = job.resolved_spec();
    std::vector<v1::JobEvent> events;
    RecordStateChange(job, events, v1::JOB_STATE_QUEUED, reason, "", clock_.Now());
    absl::StatusOr<v1::Job> stored = store_->CreateJob(job, events);
    ASSERT_TRUE(stored.ok()) << stored.status();
    ASSERT_EQ(MustCycle(), 1);
    ASSERT_EQ(Job().state(), v1::JOB_STATE_SCHEDULED);
    ASSERT_EQ(Job().placement_size(), job.resolved_spec().world_size());
  }

  int MustCycle() {
    absl::StatusOr<int> placed = loop_->RunCycle();
    EXPECT_TRUE(placed.ok()) << placed.status();
    return placed.ok() ? *placed : -1;
  }

  // The job the helpers act on: kJob unless a test moves on to another (job_id_).
  std::string JobName() const { return absl::StrCat("jobs/", job_id_); }
  v1::Job Job() { return Job(job_id_); }
  v1::Job Job(const std::string& id) {
    absl::StatusOr<v1::Job> job = store_->GetJob(id);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : v1::Job();
  }

  // The worker that holds `rank` of the current attempt.
  std::string WorkerOf(int rank) {
    const v1::Job job = Job();
    for (const v1::RankPlacement& placement : job.placement()) {
      if (placement.rank() == rank) return placement.worker();
    }
    ADD_FAILURE() << "rank " << rank << " is not placed";
    return "";
  }

  // A report of `rank` of the current attempt from its worker, with the next batch_sequence of that rank.
  v1::ReportMetricsRequest Request(int rank) {
    const v1::Job job = Job();
    v1::ReportMetricsRequest request;
    request.set_worker(WorkerOf(rank));
    request.set_job(JobName());
    request.set_attempt(job.restart_count());
    request.set_rank(rank);
    request.set_batch_sequence(++batch_sequence_[{job.restart_count(), rank}]);
    return request;
  }

  static void SetState(v1::ReportMetricsRequest& request, v1::RankState state, absl::StatusCode code = {},
                       const std::string& message = "") {
    v1::RankStatus& status = *request.mutable_status();
    status.set_job(request.job());
    status.set_attempt(request.attempt());
    status.set_rank(request.rank());
    status.set_state(state);
    status.set_step(12);
    if (code != absl::StatusCode::kOk) {
      status.set_error_status_code(static_cast<int32_t>(code));
      status.mutable_error()->set_message(message);
    }
  }

  absl::Status ReportState(int rank, v1::RankState state, absl::StatusCode code = {},
                           const std::string& message = "") {
    v1::ReportMetricsRequest request = Request(rank);
    SetState(request, state, code, message);
    return runtime_->Report(request).status();
  }

  void MustReportState(int rank, v1::RankState state, absl::StatusCode code = {}, const std::string& message = "") {
    const absl::Status status = ReportState(rank, state, code, message);
    ASSERT_TRUE(status.ok()) << status;
  }

  // Uploads a checkpoint of `step` through JobRuntime::PutCheckpoint as rank 0 of `attempt` (the current one by
  // default), its files cut into 50-byte chunks.
  absl::StatusOr<v1::Checkpoint> Put(int64_t step, const std::vector<StoredFile>& files, bool best = false,
                                     bool final_result = false, std::optional<int32_t> attempt = std::nullopt) {
    v1::PutCheckpointHeader header;
    header.set_job(JobName());
    header.set_attempt(attempt.has_value() ? *attempt : Job().restart_count());
    header.set_rank(0);
    header.set_best(best);
    header.set_final_result(final_result);
    header.mutable_checkpoint()->set_step(step);
    header.mutable_checkpoint()->set_trainer_state(absl::StrCat("{\"step\": ", step, "}"));
    std::vector<v1::PutCheckpointRequest> chunks;
    for (size_t i = 0; i < files.size(); ++i) {
      v1::FileEntry& entry = *header.mutable_checkpoint()->add_files();
      entry.set_path(files[i].path);
      entry.set_size_bytes(static_cast<int64_t>(files[i].bytes.size()));
      entry.set_sha256(Sha256Hex(files[i].bytes));
      for (size_t offset = 0; offset < files[i].bytes.size(); offset += 50) {
        v1::DataChunk& chunk = *chunks.emplace_back().mutable_chunk();
        chunk.set_file_index(static_cast<int32_t>(i));
        chunk.set_offset(static_cast<int64_t>(offset));
        chunk.set_data(files[i].bytes.substr(offset, 50));
        chunk.set_crc32c(Crc32c(chunk.data()));
      }
    }
    size_t next = 0;
    return runtime_->PutCheckpoint(header, [&](v1::PutCheckpointRequest& request) {
      if (next == chunks.size()) return false;
      request = chunks[next++];
      return true;
    });
  }

  v1::Checkpoint MustPut(int64_t step, bool best = false, bool final_result = false) {
    absl::StatusOr<v1::Checkpoint> stored =
        Put(step, {{"adapter.safetensors", RandomBytes(120, static_cast<uint64_t>(step))}}, best, final_result);
    EXPECT_TRUE(stored.ok()) << stored.status();
    return stored.ok() ? *stored : v1::Checkpoint();
  }

  std::vector<v1::JobEvent> Events() {
    absl::StatusOr<std::vector<v1::JobEvent>> events = store_->ListEvents(job_id_, 0, 10000);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() ? *events : std::vector<v1::JobEvent>{};
  }

  // The job's StateChange events as (to_state, reason).
  std::vector<std::pair<v1::JobState, std::string>> StateChain() {
    std::vector<std::pair<v1::JobState, std::string>> chain;
    for (const v1::JobEvent& event : Events()) {
      if (event.has_state_change()) chain.emplace_back(event.state_change().to_state(), event.state_change().reason());
    }
    return chain;
  }

  std::unique_ptr<AssignmentStream> Watch(const std::string& worker) {
    auto stream = std::make_unique<AssignmentStream>();
    stream->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::WatchAssignmentsRequest request;
    request.set_worker(worker);
    stream->reader = stub_->WatchAssignments(&stream->context, request);
    return stream;
  }

  // Queues a StopWorker as a marker: once the stream shows it, every command queued before it has been seen.
  void QueueMarker(const std::string& worker) {
    v1::WorkerCommand marker;
    marker.mutable_stop()->set_reason("marker");
    ASSERT_TRUE(service_->QueueCommand(worker, std::move(marker)));
  }

  TempDir dir_{"job_runtime_test"};
  FakeClock clock_;
  JobEvents events_;
  std::unique_ptr<CoordinatorStore> store_;
  std::unique_ptr<CoordinatorWorkerService> service_;
  std::unique_ptr<JobRuntime> runtime_;
  LocalServer server_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  std::unique_ptr<SchedulingLoop> loop_;
  std::string w1_;
  std::string w2_;
  std::map<std::pair<int32_t, int32_t>, int64_t> batch_sequence_;  // (attempt, rank) -> last sent.
  std::string job_id_ = kJobId;
};

}  // namespace ftd
