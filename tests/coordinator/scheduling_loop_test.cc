// SchedulingLoop with the WorkerService's assignments stream: a temp CoordinatorStore, the WorkerService on
// 127.0.0.1:0 (real gRPC streams), an injected clock. Queued jobs are placed as a gang or not at all, the placement
// is stored with its "Placed" event, each worker's stream gets its RunRank (and replays it on reconnect), and a
// worker whose lease ran out is never used.
#include "coordinator/service/scheduling_loop.h"

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/service/job_events.h"
#include "coordinator/service/job_updates.h"
#include "coordinator/service/worker_service.h"
#include "coordinator/store/coordinator_store.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/proto/local_server.h"
#include "tests/testing/temp_dir.h"
#include "tests/coordinator/worker_calls.h"
#include "tests/testing/fake_clock.h"

namespace ftd {
namespace {

using ::testing::HasSubstr;

// A Llama config.json the default memory estimate can read (tests/fixtures/model_io).
const std::string kTinyLlama = absl::StrCat(FTD_SOURCE_DIR, "/tests/fixtures/model_io/tiny_llama");



// One open WatchAssignments stream.
struct Stream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::WorkerCommand>> reader;

  // Cancels and reaps the call.
  grpc::Status Close() {
    context.TryCancel();
    v1::WorkerCommand ignored;
    while (reader->Read(&ignored)) {
    }
    return reader->Finish();
  }
};

class SchedulingLoopTest : public ::testing::Test {
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
    absl::StatusOr<LocalServer> server = StartLocalServer(service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::WorkerService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_.port), grpc::InsecureChannelCredentials()));
    loop_ = std::make_unique<SchedulingLoop>(*store_, events_, *service_, [this] { return clock_.Now(); });
  }

  void TearDown() override {
    events_.Shutdown();
    service_->Shutdown();
    server_.server->Shutdown();
  }

  std::string Register(const std::string& host) { return RegisterCpuWorker(*stub_, host); }
  bool Heartbeat(const std::string& worker) { return HeartbeatWorker(*stub_, worker); }

  // A QUEUED CPU job of `world_size` ranks, stored as SubmitJob stores one.
  std::string Queue(const std::string& id, int world_size) {
    v1::Job job;
    job.set_name(absl::StrCat("jobs/", id));
    v1::JobSpec& spec = *job.mutable_resolved_spec();
    spec.set_base_model(kTinyLlama);
    spec.set_method(v1::METHOD_LORA);
    spec.set_lora_r(8);
    spec.set_micro_batch_size(1);
    spec.set_sequence_len(64);
    spec.set_device(v1::DEVICE_CPU);
    spec.set_world_size(world_size);
    spec.set_priority(0);
    *job.mutable_spec() = spec;
    std::vector<v1::JobEvent> events;
    RecordStateChange(job, events, v1::JOB_STATE_QUEUED, "Submitted", "", clock_.Now());
    absl::StatusOr<v1::Job> stored = store_->CreateJob(job, events);
    EXPECT_TRUE(stored.ok()) << stored.status();
    return job.name();
  }

  v1::Job Job(const std::string& name) {
    absl::StatusOr<v1::Job> job = store_->GetJob(name.substr(std::string("jobs/").size()));
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : v1::Job();
  }

  std::unique_ptr<Stream> Watch(const std::string& worker) {
    auto stream = std::make_unique<Stream>();
    stream->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::WatchAssignmentsRequest request;
    request.set_worker(worker);
    stream->reader = stub_->WatchAssignments(&stream->context, request);
    return stream;
  }

  int MustCycle() {
    absl::StatusOr<int> placed = loop_->RunCycle();
    EXPECT_TRUE(placed.ok()) << placed.status();
    return placed.ok() ? *placed : -1;
  }

  TempDir dir_{"scheduling_loop_test"};
  FakeClock clock_;
  JobEvents events_;
  std::unique_ptr<CoordinatorStore> store_;
  std::unique_ptr<CoordinatorWorkerService> service_;
  LocalServer server_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  std::unique_ptr<SchedulingLoop> loop_;
};

TEST_F(SchedulingLoopTest, PlacesAGangAndStreamsEachRankItsRunRank) {
  const std::string w1 = Register("cpu-node-1");
  const std::string w2 = Register("cpu-node-2");
  std::unique_ptr<Stream> s1 = Watch(w1);
  std::unique_ptr<Stream> s2 = Watch(w2);
  const std::string job = Queue("ft-000001", 2);

  EXPECT_EQ(MustCycle(), 1);

  const v1::Job placed = Job(job);
  EXPECT_EQ(placed.state(), v1::JOB_STATE_SCHEDULED);
  ASSERT_EQ(placed.placement_size(), 2);
  EXPECT_EQ(placed.placement(0).rank(), 0);
  EXPECT_EQ(placed.placement(1).rank(), 1);
  EXPECT_NE(placed.placement(0).worker(), placed.placement(1).worker());
  EXPECT_EQ((std::set<std::string>{placed.placement(0).worker(), placed.placement(1).worker()}),
            (std::set<std::string>{w1, w2}));
  EXPECT_EQ(placed.placement(0).device(), "cpu");

  absl::StatusOr<std::vector<v1::JobEvent>> events = store_->ListEvents("ft-000001", 0, 10);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ(events->back().state_change().reason(), "Placed");
  EXPECT_EQ(events->back().state_change().to_state(), v1::JOB_STATE_SCHEDULED);
  EXPECT_THAT(events->back().state_change().message(), HasSubstr("rank 1 on"));

  for (const auto& [worker, stream] : {std::pair{w1, s1.get()}, std::pair{w2, s2.get()}}) {
    v1::WorkerCommand command;
    ASSERT_TRUE(stream->reader->Read(&command)) << worker;
    EXPECT_EQ(command.sequence(), 1);
    ASSERT_TRUE(command.has_run_rank());
    const v1::RunRank& run = command.run_rank();
    EXPECT_EQ(run.job(), job);
    EXPECT_EQ(run.attempt(), 0);
    EXPECT_EQ(run.world_size(), 2);
    EXPECT_EQ(placed.placement(run.rank()).worker(), worker);
    EXPECT_EQ(run.task(), v1::RANK_TASK_TRAIN);
    EXPECT_EQ(run.rendezvous().backend(), v1::COLLECTIVE_BACKEND_GLOO);
    EXPECT_EQ(run.resolved_spec().base_model(), kTinyLlama);
    EXPECT_EQ(run.resolved_spec().world_size(), 2);
  }
  s1->Close();
  s2->Close();
}

TEST_F(SchedulingLoopTest, AGangLargerThanTheFreeSlotsStaysQueued) {
  Register("cpu-node-1");
  Register("cpu-node-2");
  const std::string job = Queue("ft-000001", 3);

  EXPECT_EQ(MustCycle(), 0);
  const v1::Job queued = Job(job);
  EXPECT_EQ(queued.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(queued.placement_size(), 0);

  // Once a third worker comes, the whole gang goes in one cycle.
  Register("cpu-node-3");
  EXPECT_EQ(MustCycle(), 1);
  EXPECT_EQ(Job(job).placement_size(), 3);
}

TEST_F(SchedulingLoopTest, BusyWorkersAreNotUsedAgain) {
  Register("cpu-node-1");
  Register("cpu-node-2");
  const std::string first = Queue("ft-000001", 2);
  ASSERT_EQ(MustCycle(), 1);
  const std::string second = Queue("ft-000002", 1);
  EXPECT_EQ(MustCycle(), 0);
  EXPECT_EQ(Job(second).state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(Job(first).state(), v1::JOB_STATE_SCHEDULED);
}

TEST_F(SchedulingLoopTest, AReconnectedStreamReplaysItsRunRank) {
  const std::string w1 = Register("cpu-node-1");
  const std::string job = Queue("ft-000001", 1);
  ASSERT_EQ(MustCycle(), 1);

  std::unique_ptr<Stream> first = Watch(w1);
  v1::WorkerCommand command;
  ASSERT_TRUE(first->reader->Read(&command));
  EXPECT_EQ(command.sequence(), 1);
  EXPECT_EQ(command.run_rank().job(), job);
  EXPECT_EQ(command.run_rank().rank(), 0);

  // A second stream of the same worker replaces the first and starts again at sequence 1 with the same RunRank.
  std::unique_ptr<Stream> second = Watch(w1);
  v1::WorkerCommand replayed;
  ASSERT_TRUE(second->reader->Read(&replayed));
  EXPECT_EQ(replayed.sequence(), 1);
  EXPECT_EQ(replayed.run_rank().job(), job);
  EXPECT_EQ(replayed.run_rank().rank(), 0);
  EXPECT_EQ(replayed.run_rank().world_size(), 1);

  v1::WorkerCommand ignored;
  EXPECT_FALSE(first->reader->Read(&ignored));
  EXPECT_EQ(first->reader->Finish().error_code(), grpc::StatusCode::ABORTED);
  second->Close();
}

TEST_F(SchedulingLoopTest, UnknownWorkerIsNotFound) {
  std::unique_ptr<Stream> stream = Watch("workers/w-42");
  v1::WorkerCommand command;
  EXPECT_FALSE(stream->reader->Read(&command));
  EXPECT_EQ(stream->reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(SchedulingLoopTest, AWorkerWhoseLeaseRanOutIsNotUsed) {
  const std::string w1 = Register("cpu-node-1");
  const std::string w2 = Register("cpu-node-2");
  clock_.Advance(absl::Seconds(20));
  ASSERT_TRUE(Heartbeat(w2));
  clock_.Advance(absl::Seconds(15));  // w1's lease ran out; not yet swept.

  const std::string pair = Queue("ft-000001", 2);
  const std::string single = Queue("ft-000002", 1);
  // The 2-rank job cannot go (one live worker); CPU jobs queue head-of-line, so neither goes this cycle.
  EXPECT_EQ(MustCycle(), 0);
  EXPECT_EQ(Job(pair).state(), v1::JOB_STATE_QUEUED);

  // Swept: the stream of the lost worker is refused; the pair still cannot go.
  EXPECT_EQ(service_->ExpireLeases(clock_.Now()), std::vector<std::string>{"w-1"});
  std::unique_ptr<Stream> lost = Watch(w1);
  v1::WorkerCommand command;
  EXPECT_FALSE(lost->reader->Read(&command));
  EXPECT_EQ(lost->reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(MustCycle(), 0);

  // A new worker takes the lost one's place: the pair goes to the two live workers.
  const std::string w3 = Register("cpu-node-3");
  EXPECT_EQ(MustCycle(), 1);
  const v1::Job placed = Job(pair);
  ASSERT_EQ(placed.placement_size(), 2);
  EXPECT_EQ((std::set<std::string>{placed.placement(0).worker(), placed.placement(1).worker()}),
            (std::set<std::string>{w2, w3}));
  EXPECT_EQ(Job(single).state(), v1::JOB_STATE_QUEUED);
}

TEST_F(SchedulingLoopTest, AWorkerThatWentQuietIsNotPlacedOn) {
  const std::string w1 = Register("cpu-node-1");
  const std::string w2 = Register("cpu-node-2");
  // More than half the 30 s lease without a heartbeat: both leases still hold, but neither worker is placeable (a
  // dead worker keeps its lease until it runs out; a job must not be sent back to it meanwhile).
  clock_.Advance(absl::Seconds(16));
  const std::string job = Queue("ft-000001", 1);
  EXPECT_EQ(MustCycle(), 0);
  EXPECT_EQ(Job(job).state(), v1::JOB_STATE_QUEUED);

  ASSERT_TRUE(Heartbeat(w2));
  EXPECT_EQ(MustCycle(), 1);
  const v1::Job placed = Job(job);
  ASSERT_EQ(placed.placement_size(), 1);
  EXPECT_EQ(placed.placement(0).worker(), w2);
  (void)w1;
}

}  // namespace
}  // namespace ftd
