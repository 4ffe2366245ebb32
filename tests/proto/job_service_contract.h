// The JobService contract as round trips through a real gRPC channel (127.0.0.1, port 0): one parameterized suite
// that every JobService implementation runs: the test InMemoryJobService (grpc_roundtrip_test) and the coordinator's
// (tests/coordinator/job_service_test). A test binary compiles job_service_contract.cc into itself (gtest registers
// TEST_P cases through static initialisers, which a static library would drop) and instantiates the suite with
// INSTANTIATE_TEST_SUITE_P(Name, JobServiceContractTest, ::testing::Values(its ContractTarget), ContractTargetName).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ftd/v1/job_service.grpc.pb.h"
#include "grpcpp/impl/service_type.h"
#include "gtest/gtest.h"
#include "tests/proto/local_server.h"
#include "tests/testing/fake_clock.h"

namespace ftd {

// A JobService under test plus the hooks that stand in for the parts that are not there: the scheduler (state
// changes) and the workers (metrics, logs). Created per test; destroyed after the gRPC server that served it.
class ContractServer {
 public:
  virtual ~ContractServer() = default;
  virtual grpc::Service* service() = 0;
  // Moves job `name` to `state` and records the StateChange (reason `reason`), whatever the lifecycle would say: the
  // suite exercises the API, not the state machine. FAILED_PRECONDITION when the job is already terminal.
  virtual absl::Status SetState(absl::string_view name, v1::JobState state, absl::string_view reason) = 0;
  // Appends a non-state event (metrics, log, ...) and returns its sequence. FAILED_PRECONDITION on a terminal job.
  virtual absl::StatusOr<int64_t> AppendEvent(absl::string_view name, v1::JobEvent event) = 0;
  // Called before the gRPC server shuts down, so blocked WatchJob calls return.
  virtual void Shutdown() = 0;
};

struct ContractTarget {
  std::string name;        // Names the instantiation: "InMemory", "Coordinator".
  std::string base_model;  // A base_model the service accepts (the coordinator reads its config.json).
  // Starts a fresh service whose every timestamp comes from `clock`; null after an ADD_FAILURE.
  std::function<std::unique_ptr<ContractServer>(std::function<absl::Time()> clock)> start;
};

inline void PrintTo(const ContractTarget& target, std::ostream* os) { *os << target.name; }
inline std::string ContractTargetName(const ::testing::TestParamInfo<ContractTarget>& info) {
  return info.param.name;
}


// The client side of the round trips: a stub on the served target, with a deadline on every call.
class JobServiceContractTest : public ::testing::TestWithParam<ContractTarget> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A deadline turns a hung server into a failed test instead of a ctest timeout.
  static void SetDeadline(grpc::ClientContext& context);

  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (v1::JobService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    SetDeadline(context);
    return (stub_.get()->*method)(&context, request, response);
  }

  // A small valid spec named `name` on the target's base_model.
  v1::JobSpec NamedSpec(const std::string& name) const;
  // FullJobSpec() on the target's base_model.
  v1::JobSpec Full() const;
  // Submits (the test fails if the call does) and advances the clock by 1 s.
  v1::Job MustSubmit(const v1::JobSpec& spec, const std::string& request_id = "");
  grpc::Status List(const std::string& filter, int page_size, const std::string& token, v1::ListJobsResponse* out,
                    const std::string& order_by = "");
  // Follows next_page_token to the end; returns the spec names in listing order and the page sizes. Bounded, so a
  // server whose cursor does not advance fails the test instead of looping forever.
  std::pair<std::vector<std::string>, std::vector<int>> ListAll(const std::string& filter, int page_size,
                                                                const std::string& order_by = "");
  // Reads a whole WatchJob stream; returns its final status.
  grpc::Status WatchAll(const std::string& name, int64_t after_sequence, std::vector<v1::JobEvent>* events);

  FakeClock clock_{absl::FromUnixMillis(1735787045678)};
  std::unique_ptr<ContractServer> target_;
  LocalServer server_;  // After target_: the server goes first.
  std::unique_ptr<v1::JobService::Stub> stub_;
};

}  // namespace ftd
