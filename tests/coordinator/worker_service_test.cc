// The coordinator's WorkerService over a real CoordinatorStore in a temp directory, served on 127.0.0.1:0:
// registration and its refusals, leases renewed and expired on an injected clock (and fresh after a restart), the
// rendezvous KV (write-once keys, scopes per attempt), RendezvousWait woken by a set, timing out and shut down, and
// ReportMetrics' check of the reporting worker.
#include "coordinator/service/worker_service.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/store/coordinator_store.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/proto/local_server.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/fake_clock.h"

namespace ftd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;


v1::RegisterWorkerRequest GpuRegistration() {
  v1::RegisterWorkerRequest request;
  request.set_host("gpu-node-3");
  request.set_version("0.7.2");
  request.set_cuda_compiled_in(true);
  v1::GpuDevice& gpu = *request.add_gpus();
  gpu.set_index(0);
  gpu.set_name("NVIDIA H200");
  gpu.set_memory_bytes(int64_t{141} << 30);
  request.mutable_cpu()->set_cores(16);
  request.mutable_cpu()->set_memory_bytes(int64_t{128} << 30);
  return request;
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

class WorkerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void TearDown() override { Stop(); }

  void Start(absl::Duration wait_cancel_check_interval = absl::Milliseconds(20)) {
    absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(dir_.file("store"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    WorkerServiceOptions options;
    options.lease_duration = absl::Seconds(30);
    options.coordinator_version = "0.1.0";
    options.wait_cancel_check_interval = wait_cancel_check_interval;
    absl::StatusOr<std::unique_ptr<CoordinatorWorkerService>> service =
        CoordinatorWorkerService::Create(*store_, [this] { return clock_.Now(); }, options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    absl::StatusOr<LocalServer> server = StartLocalServer(service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::WorkerService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_.port), grpc::InsecureChannelCredentials()));
  }

  // Down in the daemon's order; the store directory stays.
  void Stop() {
    if (service_ != nullptr) service_->Shutdown();
    if (server_.server != nullptr) server_.server->Shutdown();
    stub_.reset();
    server_ = LocalServer();
    service_.reset();
    store_.reset();
  }

  void Restart(absl::Duration wait_cancel_check_interval = absl::Milliseconds(20)) {
    Stop();
    Start(wait_cancel_check_interval);
  }

  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (v1::WorkerService::Stub::*method)(grpc::ClientContext*, const Request&,
                                                                    Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return (stub_.get()->*method)(&context, request, response);
  }

  grpc::Status Register(const v1::RegisterWorkerRequest& request, v1::RegisterWorkerResponse* response) {
    return Call(&v1::WorkerService::Stub::RegisterWorker, request, response);
  }

  std::string MustRegister() {
    v1::RegisterWorkerResponse response;
    const grpc::Status status = Register(GpuRegistration(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.worker();
  }

  grpc::Status Heartbeat(const std::string& worker, v1::HeartbeatResponse* response) {
    v1::HeartbeatRequest request;
    request.set_worker(worker);
    return Call(&v1::WorkerService::Stub::Heartbeat, request, response);
  }

  grpc::Status Set(const std::string& job, int attempt, const std::string& key, const std::string& value) {
    v1::RendezvousSetRequest request;
    request.set_job(job);
    request.set_attempt(attempt);
    request.set_key(key);
    request.set_value(value);
    v1::RendezvousSetResponse response;
    return Call(&v1::WorkerService::Stub::RendezvousSet, request, &response);
  }

  grpc::Status Get(const std::string& job, int attempt, const std::string& key, std::string* value) {
    v1::RendezvousGetRequest request;
    request.set_job(job);
    request.set_attempt(attempt);
    request.set_key(key);
    v1::RendezvousGetResponse response;
    const grpc::Status status = Call(&v1::WorkerService::Stub::RendezvousGet, request, &response);
    *value = response.value();
    return status;
  }

  static v1::RendezvousWaitRequest WaitRequest(const std::vector<std::string>& keys, absl::Duration timeout) {
    v1::RendezvousWaitRequest request;
    request.set_job("jobs/ft-000001");
    request.set_attempt(0);
    for (const std::string& key : keys) request.add_keys(key);
    request.mutable_timeout()->set_seconds(absl::ToInt64Seconds(timeout));
    request.mutable_timeout()->set_nanos(
        static_cast<int32_t>(absl::ToInt64Nanoseconds(timeout - absl::Seconds(absl::ToInt64Seconds(timeout)))));
    return request;
  }

  TempDir dir_{"worker_service_test"};
  FakeClock clock_;
  std::unique_ptr<CoordinatorStore> store_;
  std::unique_ptr<CoordinatorWorkerService> service_;
  LocalServer server_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
};

TEST_F(WorkerServiceTest, RegisterNamesStoresAndLeasesWorkers) {
  v1::RegisterWorkerResponse response;
  ASSERT_TRUE(Register(GpuRegistration(), &response).ok());
  EXPECT_EQ(response.worker(), "workers/w-1");
  EXPECT_EQ(response.lease_duration().seconds(), 30);
  EXPECT_EQ(response.heartbeat_interval().seconds(), 10);
  EXPECT_EQ(response.coordinator_version(), "0.1.0");
  EXPECT_EQ(MustRegister(), "workers/w-2");

  absl::StatusOr<StoredWorker> stored = store_->GetWorker("w-1");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->registration.host(), "gpu-node-3");
  EXPECT_EQ(stored->registration.gpus(0).name(), "NVIDIA H200");
  // No advertise_address given: the peer's address, as the coordinator saw it.
  EXPECT_EQ(stored->registration.advertise_address(), "127.0.0.1");
  EXPECT_EQ(service_->live_workers(), 2);
}

TEST_F(WorkerServiceTest, RefusesBadRegistrations) {
  v1::RegisterWorkerResponse response;
  v1::RegisterWorkerRequest no_cuda = GpuRegistration();
  no_cuda.set_cuda_compiled_in(false);
  grpc::Status status = Register(no_cuda, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("cuda_compiled_in"));

  v1::RegisterWorkerRequest next_major = GpuRegistration();
  next_major.set_version("1.0.0");
  status = Register(next_major, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("1.0.0"));

  v1::RegisterWorkerRequest no_version = GpuRegistration();
  no_version.clear_version();
  EXPECT_EQ(Register(no_version, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::RegisterWorkerRequest empty_cpu_worker;
  empty_cpu_worker.set_version("0.1.0");
  EXPECT_EQ(Register(empty_cpu_worker, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  absl::StatusOr<std::vector<StoredWorker>> workers = store_->ListWorkers();
  ASSERT_TRUE(workers.ok()) << workers.status();
  EXPECT_THAT(*workers, IsEmpty());
  EXPECT_EQ(service_->live_workers(), 0);
}

TEST_F(WorkerServiceTest, HeartbeatRenewsAndExpiredLeasesAreSweptOnce) {
  const absl::Time registered = clock_.Now();
  const std::string worker = MustRegister();
  clock_.Advance(absl::Seconds(20));
  v1::HeartbeatResponse beat;
  ASSERT_TRUE(Heartbeat(worker, &beat).ok());
  EXPECT_TRUE(beat.lease_valid());
  EXPECT_EQ(ToTime(beat.lease_expire_time()), registered + absl::Seconds(50));

  clock_.Advance(absl::Seconds(29));  // 1 s before the renewed lease ends.
  EXPECT_THAT(service_->ExpireLeases(clock_.Now()), IsEmpty());

  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(Heartbeat(worker, &beat).ok());
  EXPECT_FALSE(beat.lease_valid()) << "a heartbeat after the lease ran out renews nothing";
  EXPECT_THAT(service_->ExpireLeases(clock_.Now()), ElementsAre("w-1"));
  EXPECT_EQ(store_->GetWorker("w-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->live_workers(), 0);

  EXPECT_THAT(service_->ExpireLeases(clock_.Now() + absl::Hours(1)), IsEmpty()) << "a lost worker is reported once";
  ASSERT_TRUE(Heartbeat(worker, &beat).ok());
  EXPECT_FALSE(beat.lease_valid()) << "a lost worker must register again";
  EXPECT_EQ(MustRegister(), "workers/w-2") << "names are never reused";

  EXPECT_EQ(Heartbeat("workers/w-99", &beat).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Heartbeat("w-1", &beat).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(WorkerServiceTest, RestartGivesStoredWorkersAFreshLease) {
  const std::string worker = MustRegister();
  clock_.Advance(absl::Seconds(29));
  Restart();
  clock_.Advance(absl::Seconds(29));  // 58 s after registering; 29 s into the lease the restart gave.
  EXPECT_THAT(service_->ExpireLeases(clock_.Now()), IsEmpty());
  v1::HeartbeatResponse beat;
  ASSERT_TRUE(Heartbeat(worker, &beat).ok());
  EXPECT_TRUE(beat.lease_valid());
  EXPECT_EQ(MustRegister(), "workers/w-2") << "numbering continues above the stored workers";
}

TEST_F(WorkerServiceTest, RendezvousKeysAreWriteOncePerAttempt) {
  ASSERT_TRUE(Set("jobs/ft-000001", 0, "rank_0", "10.0.0.1:4000").ok());
  std::string value;
  ASSERT_TRUE(Get("jobs/ft-000001", 0, "rank_0", &value).ok());
  EXPECT_EQ(value, "10.0.0.1:4000");
  EXPECT_TRUE(Set("jobs/ft-000001", 0, "rank_0", "10.0.0.1:4000").ok()) << "a retry of the same value";
  EXPECT_EQ(Set("jobs/ft-000001", 0, "rank_0", "10.0.0.2:4000").error_code(), grpc::StatusCode::ALREADY_EXISTS);

  EXPECT_EQ(Get("jobs/ft-000001", 1, "rank_0", &value).error_code(), grpc::StatusCode::NOT_FOUND)
      << "another attempt's keys are apart";
  EXPECT_EQ(Get("jobs/ft-000002", 0, "rank_0", &value).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Set("evaluations/ev-1", 0, "nccl_unique_id", std::string("\0\1\2", 3)).ok());
  ASSERT_TRUE(Get("evaluations/ev-1", 0, "nccl_unique_id", &value).ok());
  EXPECT_EQ(value, std::string("\0\1\2", 3));

  EXPECT_EQ(Set("ft-000001", 0, "k", "v").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Set("jobs/ft-000001", -1, "k", "v").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Set("jobs/ft-000001", 0, "", "v").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Set("jobs/ft-000001", 0, std::string(513, 'k'), "v").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Set("jobs/ft-000001", 0, "big", std::string((1 << 20) + 1, 'v')).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(WorkerServiceTest, WaitReturnsKeysAlreadySet) {
  ASSERT_TRUE(Set("jobs/ft-000001", 0, "a", "1").ok());
  ASSERT_TRUE(Set("jobs/ft-000001", 0, "b", "2").ok());
  v1::RendezvousWaitResponse response;
  ASSERT_TRUE(
      Call(&v1::WorkerService::Stub::RendezvousWait, WaitRequest({"a", "b"}, absl::Seconds(20)), &response).ok());
  EXPECT_EQ(response.values().at("a"), "1");
  EXPECT_EQ(response.values().at("b"), "2");

  v1::RendezvousWaitRequest no_keys = WaitRequest({}, absl::Seconds(1));
  EXPECT_EQ(Call(&v1::WorkerService::Stub::RendezvousWait, no_keys, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(WorkerServiceTest, WaitTimesOutNamingTheMissingKeys) {
  ASSERT_TRUE(Set("jobs/ft-000001", 0, "rank_0", "x").ok());
  v1::RendezvousWaitResponse response;
  const grpc::Status status = Call(&v1::WorkerService::Stub::RendezvousWait,
                                   WaitRequest({"rank_0", "rank_1"}, absl::Milliseconds(50)), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(), HasSubstr("rank_1"));
  EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr("rank_0")));
}

TEST_F(WorkerServiceTest, WaitIsWokenBySetsFromAnotherThread) {
  // With an hour between cancellation checks, only the set's notification can wake the waiter in time.
  Restart(absl::Hours(1));
  grpc::Status wait_status;
  v1::RendezvousWaitResponse response;
  std::thread waiter([&] {
    wait_status = Call(&v1::WorkerService::Stub::RendezvousWait,
                       WaitRequest({"rank_0", "rank_1"}, absl::Seconds(25)), &response);
  });
  EXPECT_TRUE(Set("jobs/ft-000001", 0, "rank_1", "b").ok());
  EXPECT_TRUE(Set("jobs/ft-000001", 1, "rank_0", "other attempt").ok());
  EXPECT_TRUE(Set("jobs/ft-000001", 0, "rank_0", "a").ok());
  waiter.join();
  ASSERT_TRUE(wait_status.ok()) << wait_status.error_message();
  EXPECT_EQ(response.values().at("rank_0"), "a");
  EXPECT_EQ(response.values().at("rank_1"), "b");
}

TEST_F(WorkerServiceTest, ShutdownEndsBlockedWaits) {
  Restart(absl::Hours(1));
  grpc::Status wait_status;
  std::thread waiter([&] {
    v1::RendezvousWaitResponse response;
    wait_status =
        Call(&v1::WorkerService::Stub::RendezvousWait, WaitRequest({"never"}, absl::Seconds(25)), &response);
  });
  service_->Shutdown();
  waiter.join();
  EXPECT_EQ(wait_status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(WorkerServiceTest, ReportMetricsNeedsAWellNamedWorkerHoldingALease) {
  auto report = [&](const std::string& worker) {
    v1::ReportMetricsRequest request;
    request.set_worker(worker);
    request.set_job("jobs/ft-000001");
    request.set_batch_sequence(1);
    v1::ReportMetricsResponse response;
    return Call(&v1::WorkerService::Stub::ReportMetrics, request, &response);
  };
  grpc::Status status = report("workers/w-7");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("workers/w-7"));
  EXPECT_EQ(report("w-7").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(report("").error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // A worker whose lease ran out and was swept is refused the same way.
  const std::string worker = MustRegister();
  clock_.Advance(absl::Seconds(31));
  EXPECT_THAT(service_->ExpireLeases(clock_.Now()), ElementsAre("w-1"));
  EXPECT_EQ(report(worker).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  // A worker holding a lease, with no JobRuntime attached yet (the coordinator is starting): retry later.
  const std::string live = MustRegister();
  EXPECT_EQ(report(live).error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace ftd
