// The real `ftd` binary as a child process on ports 0: it answers the gRPC health check, takes a job over the
// JobService, serves /metrics and /healthz, keeps the job through a SIGKILL and a restart on the same --data-dir,
// and exits 0 on SIGTERM.
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "ftd/v1/job_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/generic_call.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

using ::testing::HasSubstr;

// The number after `prefix` on a line of `text`; 0 when no line has it.
int PortAfter(const std::string& text, const std::string& prefix) {
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return 0;
  const size_t colon = text.find_last_of(':', text.find('\n', at));
  return std::atoi(text.c_str() + colon + 1);
}

// One run of the daemon. The destructor SIGKILLs a daemon the test did not stop, so a failing test leaves nothing.
class Daemon {
 public:
  Daemon(const TempDir& dir, const std::string& data_dir, int run) {
    stdout_path_ = dir.file(absl::StrCat("ftd_", run, ".out"));
    const std::string stderr_path = dir.file(absl::StrCat("ftd_", run, ".err"));
    pid_ = SpawnCommand({FTD_BINARY, "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--http-listen",
                         "127.0.0.1:0", "--lease-seconds", "30"},
                        stdout_path_, stderr_path);
    // The ports are known only once the daemon prints them. A child process gives nothing to wait on but its output
    // file, so this polls it, bounded by a generous deadline (the daemon starts in well under a second).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(stdout_path_);
      std::stringstream text;
      text << in.rdbuf();
      grpc_port_ = PortAfter(text.str(), "ftd: serving gRPC on ");
      http_port_ = PortAfter(text.str(), "ftd: serving HTTP on ");
      if (grpc_port_ > 0 && http_port_ > 0) return;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        ADD_FAILURE() << "ftd exited before serving:\n" << Slurp(stderr_path);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "ftd printed no ports within 30 s:\n" << Slurp(stderr_path);
  }
  ~Daemon() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      ExitCode(pid_);
    }
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Sends `signal` and returns the exit code (-1 when killed by a signal).
  int Stop(int signal) {
    if (pid_ <= 0) return -2;
    kill(pid_, signal);
    const int code = ExitCode(pid_);
    pid_ = -1;
    return code;
  }

  bool serving() const { return grpc_port_ > 0 && http_port_ > 0; }
  std::string grpc_target() const { return absl::StrCat("127.0.0.1:", grpc_port_); }
  int http_port() const { return http_port_; }

 private:
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  pid_t pid_ = -1;
  std::string stdout_path_;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(20);
}

// grpc.health.v1.Health/Check with the empty service name (the server as a whole): HealthCheckRequest{service: ""}
// encodes to no bytes. Returns the response's bytes.
grpc::Status HealthCheck(const std::string& target, std::string* response_bytes) {
  return GenericUnaryCall(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()),
                          "/grpc.health.v1.Health/Check", "", response_bytes);
}

TEST(FtdDaemonTest, ServesSurvivesSigkillAndStopsOnSigterm) {
  TempDir dir("ftd_daemon_test");
  const std::string data_dir = dir.file("data");
  std::string job_name;
  {
    Daemon daemon(dir, data_dir, 1);
    ASSERT_TRUE(daemon.serving());

    std::string health;
    const grpc::Status health_status = HealthCheck(daemon.grpc_target(), &health);
    ASSERT_TRUE(health_status.ok()) << health_status.error_message();
    EXPECT_EQ(health, std::string("\x08\x01", 2)) << "HealthCheckResponse{status: SERVING}";

    auto jobs = v1::JobService::NewStub(grpc::CreateChannel(daemon.grpc_target(), grpc::InsecureChannelCredentials()));
    v1::SubmitJobRequest submit;
    submit.mutable_spec()->set_name("daemon-test");
    submit.mutable_spec()->set_base_model(absl::StrCat(FTD_SOURCE_DIR, "/tests/fixtures/model_io/tiny_llama"));
    submit.mutable_spec()->add_datasets()->set_path("/data/train.jsonl");
    v1::Job job;
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    const grpc::Status submitted = jobs->SubmitJob(&context, submit, &job);
    ASSERT_TRUE(submitted.ok()) << submitted.error_message();
    EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
    job_name = job.name();

    httplib::Client http("127.0.0.1", daemon.http_port());
    httplib::Result metrics = http.Get("/metrics");
    ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
    EXPECT_EQ(metrics->status, 200);
    EXPECT_THAT(metrics->body, HasSubstr("ftd_coordinator_jobs{state=\"QUEUED\"} 1"));
    EXPECT_THAT(metrics->body, HasSubstr("ftd_coordinator_workers_live 0"));
    EXPECT_THAT(metrics->body, HasSubstr("ftd_coordinator_workers{state=\"live\"} 0"));
    EXPECT_THAT(metrics->body, HasSubstr("ftd_coordinator_workers{state=\"expired_unswept\"} 0"));
    // The gRPC interceptor saw the health check (a callback service inside gRPC) and the submit.
    EXPECT_THAT(metrics->body,
                HasSubstr("ftd_grpc_server_handled_total{method=\"grpc.health.v1.Health/Check\",code=\"OK\"} 1"));
    EXPECT_THAT(metrics->body,
                HasSubstr("ftd_grpc_server_handled_total{method=\"ftd.v1.JobService/SubmitJob\",code=\"OK\"} 1"));
    EXPECT_THAT(metrics->body,
                HasSubstr("ftd_grpc_server_handling_seconds_count{method=\"ftd.v1.JobService/SubmitJob\"} 1"));
    httplib::Result healthz = http.Get("/healthz");
    ASSERT_TRUE(healthz) << httplib::to_string(healthz.error());
    EXPECT_EQ(healthz->status, 200);
    httplib::Result readyz = http.Get("/readyz");
    ASSERT_TRUE(readyz) << httplib::to_string(readyz.error());
    EXPECT_EQ(readyz->status, 200);

    EXPECT_EQ(daemon.Stop(SIGKILL), -1);
  }
  {
    Daemon daemon(dir, data_dir, 2);
    ASSERT_TRUE(daemon.serving());
    auto jobs = v1::JobService::NewStub(grpc::CreateChannel(daemon.grpc_target(), grpc::InsecureChannelCredentials()));
    v1::GetJobRequest get;
    get.set_name(job_name);
    v1::Job job;
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    const grpc::Status got = jobs->GetJob(&context, get, &job);
    ASSERT_TRUE(got.ok()) << got.error_message();
    EXPECT_EQ(job.name(), job_name);
    EXPECT_EQ(job.spec().name(), "daemon-test");
    EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);

    EXPECT_EQ(daemon.Stop(SIGTERM), 0);
  }
}

TEST(FtdDaemonTest, RefusesAMissingDataDir) {
  TempDir dir("ftd_daemon_test");
  const pid_t pid = SpawnCommand({FTD_BINARY, "--listen", "127.0.0.1:0"}, dir.file("out"), dir.file("err"));
  EXPECT_NE(ExitCode(pid), 0);
}

}  // namespace
}  // namespace ftd
