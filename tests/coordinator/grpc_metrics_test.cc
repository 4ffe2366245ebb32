// GrpcServerMetrics through a real gRPC server on 127.0.0.1:0 serving the coordinator's JobService over a temp
// CoordinatorStore (and the health service, as the daemon does): ftd_grpc_server_handled_total and
// ftd_grpc_server_handling_seconds for unary and streaming calls, unknown methods, and what gRPC ends before the
// interceptor (auth processor refusals, oversize requests); promtool checks the exposition where it is installed.
#include "coordinator/service/grpc_metrics.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/metrics/text_registry.h"
#include "coordinator/service/auth.h"
#include "coordinator/service/job_events.h"
#include "coordinator/service/job_service.h"
#include "coordinator/store/coordinator_store.h"
#include "ftd/v1/job_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tests/testing/generic_call.h"
#include "tests/common/find_program.h"
#include "tests/testing/exposed_value.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kUserToken[] = "user-token-0123456789abcdef";
constexpr char kWorkerToken[] = "worker-token-0123456789abcdef";
// Small, so the oversize case needs no megabytes; the daemon's kMaxRequestBytes takes the same path in gRPC.
constexpr int kMaxRequest = 4096;

std::string Handled(const std::string& method, const std::string& code) {
  return absl::StrCat("ftd_grpc_server_handled_total{method=\"", method, "\",code=\"", code, "\"}");
}
std::string SecondsCount(const std::string& method) {
  return absl::StrCat("ftd_grpc_server_handling_seconds_count{method=\"", method, "\"}");
}

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(20);
}

// One unary call of any method with raw request bytes.
grpc::Status GenericUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                          const std::string& request_bytes) {
  return GenericUnaryCall(channel, method, request_bytes);
}

// Whether the server also runs gRPC's health service, a callback service: with one, gRPC answers unknown methods
// through a callback generic handler; without, through its sync one.
enum class Health { kOn, kOff };

// The daemon's gRPC setup in small: the JobService, the health service, the metrics interceptor, a receive limit,
// and (with `tokens`) the bearer-token processor.
class GrpcMetricsTest : public ::testing::Test {
 protected:
  void Start(std::shared_ptr<const TokenTable> tokens = nullptr, Health health = Health::kOn) {
    absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(dir_.file("store"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    events_ = std::make_unique<JobEvents>();
    JobServiceOptions options;
    options.tokens = tokens;
    absl::StatusOr<std::unique_ptr<CoordinatorJobService>> service =
        CoordinatorJobService::Create(*store_, *events_, [this] { return clock_.Now(); }, options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    absl::StatusOr<std::unique_ptr<GrpcServerMetrics>> metrics = GrpcServerMetrics::Create(registry_);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = *std::move(metrics);
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        MakeServerCredentials(ServerTlsOptions{}, tokens);
    ASSERT_TRUE(credentials.ok()) << credentials.status();

    grpc::EnableDefaultHealthCheckService(health == Health::kOn);  // Read by the builder below only.
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *credentials, &port_);
    builder.SetMaxReceiveMessageSize(kMaxRequest);
    builder.RegisterService(service_.get());
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
    interceptors.push_back(metrics_->InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials());
    stub_ = v1::JobService::NewStub(channel_);
  }

  void TearDown() override {
    if (events_ != nullptr) events_->Shutdown();
    if (server_ != nullptr) server_->Shutdown();
    stub_.reset();
    server_.reset();
    service_.reset();
    events_.reset();
    store_.reset();
  }

  // A context with a deadline and, when `token` is set, its bearer header.
  static std::unique_ptr<grpc::ClientContext> Context(const char* token = nullptr) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(Deadline());
    if (token != nullptr) context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return context;
  }

  static std::shared_ptr<const TokenTable> Tokens() {
    auto table = std::make_shared<TokenTable>();
    table->entries.push_back({kUserToken, "alice", TokenRole::kUser});
    table->entries.push_back({kWorkerToken, "w1", TokenRole::kWorker});
    return table;
  }

  TempDir dir_{"ftd_grpc_metrics_test"};
  FakeClock clock_;
  TextMetricsRegistry registry_;
  std::unique_ptr<CoordinatorStore> store_;
  std::unique_ptr<JobEvents> events_;
  std::unique_ptr<CoordinatorJobService> service_;
  std::unique_ptr<GrpcServerMetrics> metrics_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> stub_;
};

TEST_F(GrpcMetricsTest, CountsUnaryCallsByMethodAndCodeAndTimesThem) {
  Start();
  v1::GetJobRequest get;
  get.set_name("jobs/ft-999999");
  v1::Job job;
  const grpc::Status got = stub_->GetJob(Context().get(), get, &job);
  ASSERT_EQ(got.error_code(), grpc::StatusCode::NOT_FOUND) << got.error_message();
  v1::ListJobsResponse list;
  for (int i = 0; i < 2; ++i) {
    const grpc::Status listed = stub_->ListJobs(Context().get(), v1::ListJobsRequest(), &list);
    ASSERT_TRUE(listed.ok()) << listed.error_message();
  }

  // The interceptor records at PRE_SEND_STATUS, before the status leaves: a client that has it can read the counts.
  const std::string text = registry_.Expose();
  EXPECT_EQ(ExposedValue(text, Handled("ftd.v1.JobService/GetJob", "NOT_FOUND")), 1) << text;
  EXPECT_EQ(ExposedValue(text, Handled("ftd.v1.JobService/ListJobs", "OK")), 2) << text;
  EXPECT_EQ(ExposedValue(text, Handled("ftd.v1.JobService/GetJob", "OK")), -1) << "only codes seen are exposed";
  EXPECT_EQ(ExposedValue(text, SecondsCount("ftd.v1.JobService/GetJob")), 1) << text;
  EXPECT_EQ(ExposedValue(text, SecondsCount("ftd.v1.JobService/ListJobs")), 2) << text;
  EXPECT_GE(ExposedValue(text, "ftd_grpc_server_handling_seconds_sum{method=\"ftd.v1.JobService/ListJobs\"}"), 0);
  EXPECT_THAT(text, HasSubstr("# TYPE ftd_grpc_server_handled_total counter"));
  EXPECT_THAT(text, HasSubstr("# TYPE ftd_grpc_server_handling_seconds histogram"));
}

TEST_F(GrpcMetricsTest, CountsStreamingAndCallbackCallsAndLabelsUnknownMethodsUnknown) {
  Start();
  // A server stream (WatchJob) that ends with NOT_FOUND.
  v1::WatchJobRequest watch;
  watch.set_name("jobs/ft-999999");
  std::unique_ptr<grpc::ClientContext> context = Context();
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = stub_->WatchJob(context.get(), watch);
  v1::JobEvent event;
  while (reader->Read(&event)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  // The health service is a callback service inside gRPC.
  EXPECT_TRUE(GenericUnary(channel_, "/grpc.health.v1.Health/Check", "").ok());
  // Paths nothing serves: one label for all of them, whatever the client sent.
  EXPECT_EQ(GenericUnary(channel_, "/ftd.v1.Nope/Nothing", "").error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(GenericUnary(channel_, "/made.up/Path", "").error_code(), grpc::StatusCode::UNIMPLEMENTED);

  const std::string text = registry_.Expose();
  EXPECT_EQ(ExposedValue(text, Handled("ftd.v1.JobService/WatchJob", "NOT_FOUND")), 1) << text;
  EXPECT_EQ(ExposedValue(text, SecondsCount("ftd.v1.JobService/WatchJob")), 1) << text;
  EXPECT_EQ(ExposedValue(text, Handled("grpc.health.v1.Health/Check", "OK")), 1) << text;
  EXPECT_EQ(ExposedValue(text, Handled("unknown", "UNIMPLEMENTED")), 2) << text;
  EXPECT_THAT(text, Not(HasSubstr("Nope")));
  EXPECT_THAT(text, Not(HasSubstr("made.up")));
}

TEST_F(GrpcMetricsTest, UnknownMethodsOfASyncOnlyServerAreUnknownToo) {
  Start(nullptr, Health::kOff);
  EXPECT_EQ(GenericUnary(channel_, "/made.up/Path", "").error_code(), grpc::StatusCode::UNIMPLEMENTED);
  v1::ListJobsResponse list;
  ASSERT_TRUE(stub_->ListJobs(Context().get(), v1::ListJobsRequest(), &list).ok());
  const std::string text = registry_.Expose();
  EXPECT_EQ(ExposedValue(text, Handled("unknown", "UNIMPLEMENTED")), 1) << text;
  EXPECT_EQ(ExposedValue(text, Handled("ftd.v1.JobService/ListJobs", "OK")), 1) << text;
  EXPECT_THAT(text, Not(HasSubstr("made.up")));
}

// The auth processor runs in the gRPC core, before the call reaches the C++ server, so refused calls never make an
// interceptor: they are not in ftd_grpc_server_handled_total (grpc_metrics.h says so). Admitted calls are.
TEST_F(GrpcMetricsTest, CallsTheAuthProcessorRefusesNeverReachTheInterceptor) {
  Start(Tokens());
  v1::ListJobsResponse list;
  EXPECT_EQ(stub_->ListJobs(Context().get(), v1::ListJobsRequest(), &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub_->ListJobs(Context("not-a-known-token-at-all").get(), v1::ListJobsRequest(), &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub_->ListJobs(Context(kWorkerToken).get(), v1::ListJobsRequest(), &list).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  const grpc::Status admitted = stub_->ListJobs(Context(kUserToken).get(), v1::ListJobsRequest(), &list);
  ASSERT_TRUE(admitted.ok()) << admitted.error_message();
  server_->Shutdown();  // Waits for every call the server took, so nothing is still on its way to the interceptor.

  const std::string text = registry_.Expose();
  EXPECT_EQ(ExposedValue(text, Handled("ftd.v1.JobService/ListJobs", "OK")), 1) << text;
  EXPECT_EQ(ExposedValue(text, Handled("ftd.v1.JobService/ListJobs", "UNAUTHENTICATED")), -1) << text;
  EXPECT_EQ(ExposedValue(text, Handled("ftd.v1.JobService/ListJobs", "PERMISSION_DENIED")), -1) << text;
  EXPECT_THAT(text, Not(HasSubstr("UNAUTHENTICATED")));
  EXPECT_THAT(text, Not(HasSubstr("PERMISSION_DENIED")));
  EXPECT_EQ(ExposedValue(text, SecondsCount("ftd.v1.JobService/ListJobs")), 1) << text;
}

// A request over the receive limit: the client sees RESOURCE_EXHAUSTED, and the gRPC core ends the call before a
// handler (and so the interceptor) is made: not counted, and in particular not under another code (an INTERNAL for a
// handler that got no message, say). grpc_metrics.h documents this; a gRPC that changes it fails here.
TEST_F(GrpcMetricsTest, OversizeRequestsEndInTheCoreAndAreNotCounted) {
  Start();
  v1::SubmitJobRequest submit;
  submit.mutable_spec()->set_name(std::string(2 * kMaxRequest, 'x'));
  v1::Job job;
  const grpc::Status refused = stub_->SubmitJob(Context().get(), submit, &job);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  v1::ListJobsResponse list;
  ASSERT_TRUE(stub_->ListJobs(Context().get(), v1::ListJobsRequest(), &list).ok());
  server_->Shutdown();  // Waits for every call the server took, so nothing is still on its way to the interceptor.

  const std::string text = registry_.Expose();
  EXPECT_EQ(ExposedValue(text, Handled("ftd.v1.JobService/ListJobs", "OK")), 1) << text;
  EXPECT_THAT(text, Not(HasSubstr("SubmitJob"))) << "no series of the refused call, under any code";
}

TEST_F(GrpcMetricsTest, PromtoolAcceptsTheExposition) {
  Start();
  v1::GetJobRequest get;
  get.set_name("jobs/ft-999999");
  v1::Job job;
  EXPECT_EQ(stub_->GetJob(Context().get(), get, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::ListJobsResponse list;
  EXPECT_TRUE(stub_->ListJobs(Context().get(), v1::ListJobsRequest(), &list).ok());
  const std::string text = registry_.Expose();
  ASSERT_THAT(text, HasSubstr("ftd_grpc_server_handled_total{"));

  const std::string promtool = FindProgram("promtool");
  if (promtool.empty()) GTEST_SKIP() << "promtool is not on PATH (Debian package prometheus): not checked";
  const std::string metrics_path = dir_.file("metrics.txt");
  {
    std::ofstream out(metrics_path, std::ios::binary);
    out << text;
    ASSERT_TRUE(out.good()) << metrics_path;
  }
  const std::string err_path = dir_.file("promtool.err");
  const pid_t pid = SpawnCommand(
      {"/bin/sh", "-c", absl::StrCat("exec '", promtool, "' check metrics < '", metrics_path, "'")},
      dir_.file("promtool.out"), err_path);
  ASSERT_GT(pid, 0);
  const int code = ExitCode(pid);
  std::ifstream err(err_path);
  std::stringstream err_text;
  err_text << err.rdbuf();
  EXPECT_EQ(code, 0) << "promtool check metrics exited " << code << " (1: parse error, 3: lint problems)\n"
                     << err_text.str() << "exposition:\n"
                     << text;
}

// The probe alone, with given durations: buckets, sum and count, out-of-range codes.
TEST(GrpcServerMetricsProbeTest, HandledFillsTheFamiliesExactly) {
  TextMetricsRegistry registry;
  absl::StatusOr<std::unique_ptr<GrpcServerMetrics>> metrics = GrpcServerMetrics::Create(registry);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  (*metrics)->Handled("ftd.v1.WorkerService/Heartbeat", grpc::StatusCode::OK, absl::Milliseconds(250));
  (*metrics)->Handled("ftd.v1.WorkerService/Heartbeat", grpc::StatusCode::OK, absl::Milliseconds(750));
  (*metrics)->Handled("ftd.v1.WorkerService/Heartbeat", static_cast<grpc::StatusCode>(99), absl::ZeroDuration());
  const std::string text = registry.Expose();
  EXPECT_EQ(ExposedValue(text, Handled("ftd.v1.WorkerService/Heartbeat", "OK")), 2) << text;
  EXPECT_EQ(ExposedValue(text, Handled("ftd.v1.WorkerService/Heartbeat", "UNKNOWN")), 1) << text;
  EXPECT_EQ(ExposedValue(text, SecondsCount("ftd.v1.WorkerService/Heartbeat")), 3) << text;
  EXPECT_DOUBLE_EQ(
      ExposedValue(text, "ftd_grpc_server_handling_seconds_sum{method=\"ftd.v1.WorkerService/Heartbeat\"}"), 1.0);
  // 0.0005 * 2^9 = 0.256: the 0 and the 0.25 are in it, the 0.75 is not.
  EXPECT_EQ(ExposedValue(text, "ftd_grpc_server_handling_seconds_bucket{method=\"ftd.v1.WorkerService/Heartbeat\","
                              "le=\"0.256\"}"),
            2)
      << text;
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::INVALID_ARGUMENT), "INVALID_ARGUMENT");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
}

}  // namespace
}  // namespace ftd
