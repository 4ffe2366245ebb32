// The JobService contract suite (tests/proto/job_service_contract.cc) against the coordinator's JobService over a
// fresh CoordinatorStore in a temp directory; the scheduler's and workers' hooks write through the store and the hub.
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "coordinator/service/job_events.h"
#include "coordinator/service/job_service.h"
#include "coordinator/store/coordinator_store.h"
#include "gtest/gtest.h"
#include "tests/coordinator/job_service_testing.h"
#include "tests/proto/job_service_contract.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

class CoordinatorContractServer final : public ContractServer {
 public:
  explicit CoordinatorContractServer(std::function<absl::Time()> clock) : clock_(std::move(clock)) {
    absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(dir_.file("store"));
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return;
    store_ = *std::move(store);
    absl::StatusOr<std::unique_ptr<CoordinatorJobService>> service =
        CoordinatorJobService::Create(*store_, events_, clock_);
    EXPECT_TRUE(service.ok()) << service.status();
    if (service.ok()) service_ = *std::move(service);
  }

  bool ok() const { return service_ != nullptr; }
  grpc::Service* service() override { return service_.get(); }
  absl::Status SetState(absl::string_view name, v1::JobState state, absl::string_view reason) override {
    return ftd::SetState(*store_, events_, name, state, reason, clock_()).status();
  }
  absl::StatusOr<int64_t> AppendEvent(absl::string_view name, v1::JobEvent event) override {
    absl::StatusOr<v1::Job> job = Append(*store_, events_, name, std::move(event), clock_());
    if (!job.ok()) return job.status();
    return job->last_event_sequence();
  }
  void Shutdown() override { events_.Shutdown(); }

 private:
  std::function<absl::Time()> clock_;
  TempDir dir_{"ftd_job_service"};
  std::unique_ptr<CoordinatorStore> store_;
  JobEvents events_;
  std::unique_ptr<CoordinatorJobService> service_;  // Last: destroyed first.
};

ContractTarget CoordinatorTarget() {
  return ContractTarget{
      .name = "Coordinator",
      .base_model = kTinyLlama,
      .start = [](std::function<absl::Time()> clock) -> std::unique_ptr<ContractServer> {
        auto server = std::make_unique<CoordinatorContractServer>(std::move(clock));
        if (!server->ok()) return nullptr;
        return server;
      }};
}

INSTANTIATE_TEST_SUITE_P(Coordinator, JobServiceContractTest, ::testing::Values(CoordinatorTarget()),
                         ContractTargetName);

}  // namespace
}  // namespace ftd
