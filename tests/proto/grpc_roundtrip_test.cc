// Round trips through a real gRPC channel (127.0.0.1, port 0) against the in-memory JobService: the contract suite
// (job_service_contract.cc) instantiated for it, plus what is particular to the test service.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ftd/v1/job_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/proto/full_job_spec.h"
#include "tests/proto/in_memory_job_service.h"
#include "tests/proto/job_service_contract.h"
#include "tests/proto/local_server.h"

namespace ftd {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The in-memory service and its own test hooks, as the contract suite drives them.
class InMemoryContractServer final : public ContractServer {
 public:
  explicit InMemoryContractServer(std::function<absl::Time()> clock) : service_(Options(std::move(clock))) {}

  grpc::Service* service() override { return &service_; }
  absl::Status SetState(absl::string_view name, v1::JobState state, absl::string_view reason) override {
    return service_.SetState(name, state, reason);
  }
  absl::StatusOr<int64_t> AppendEvent(absl::string_view name, v1::JobEvent event) override {
    return service_.AppendEvent(name, std::move(event));
  }
  void Shutdown() override { service_.Shutdown(); }

 private:
  static InMemoryJobServiceOptions Options(std::function<absl::Time()> clock) {
    InMemoryJobServiceOptions options;
    options.clock = std::move(clock);
    return options;
  }

  InMemoryJobService service_;
};

ContractTarget InMemoryTarget() {
  return ContractTarget{
      .name = "InMemory",
      .base_model = "/models/tiny",  // Never read: the test service checks the spec only.
      .start = [](std::function<absl::Time()> clock) -> std::unique_ptr<ContractServer> {
        return std::make_unique<InMemoryContractServer>(std::move(clock));
      }};
}

INSTANTIATE_TEST_SUITE_P(InMemory, JobServiceContractTest, ::testing::Values(InMemoryTarget()), ContractTargetName);

TEST(FullJobSpecTest, SetsEveryFieldAndTheCheckNoticesGaps) {
  v1::JobSpec spec = FullJobSpec();
  EXPECT_THAT(UnsetFields(spec), IsEmpty());
  spec.clear_seed();
  spec.mutable_benchmarks(1)->clear_limit();
  spec.mutable_early_stopping()->set_patience(0);  // Present but default still counts as unset.
  EXPECT_THAT(UnsetFields(spec), ElementsAre("seed", "early_stopping.patience", "benchmarks[1].limit"));
}

TEST(InMemoryJobServiceTest, UnimplementedRpcsSayUnimplemented) {
  InMemoryJobService service;
  absl::StatusOr<LocalServer> server = StartLocalServer(&service);
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<v1::JobService::Stub> stub = v1::JobService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server->port), grpc::InsecureChannelCredentials()));
  auto deadline = [] { return std::chrono::system_clock::now() + std::chrono::seconds(20); };

  grpc::ClientContext report_context;
  report_context.set_deadline(deadline());
  v1::GetTransferReportRequest report_request;
  report_request.set_name("jobs/ft-000001/transferReport");
  v1::TransferReport report;
  EXPECT_EQ(stub->GetTransferReport(&report_context, report_request, &report).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  grpc::ClientContext checkpoints_context;
  checkpoints_context.set_deadline(deadline());
  v1::ListCheckpointsRequest checkpoints_request;
  v1::ListCheckpointsResponse checkpoints;
  EXPECT_EQ(stub->ListCheckpoints(&checkpoints_context, checkpoints_request, &checkpoints).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  service.Shutdown();
  server->server->Shutdown();
}

}  // namespace
}  // namespace ftd
