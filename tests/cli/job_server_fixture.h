// JobServerTest: a gtest fixture serving the in-memory JobService, behind RecordingJobService, in-process on
// 127.0.0.1, port 0, with a fake clock, a temp directory and a JobClient; plus a valid spec and a refused port.
// Shared by the job-command tests (functions and binary). Header-only, tests only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cli/job_client.h"
#include "cli/job_commands.h"
#include "gtest/gtest.h"
#include "tests/cli/recording_job_service.h"
#include "tests/proto/in_memory_job_service.h"
#include "tests/proto/local_server.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/fake_clock.h"

namespace ftd {

inline constexpr char kValidSpec[] = R"(name: tune-tiny
base_model: /models/tiny
datasets:
  - path: /data/train.jsonl
max_steps: 100
)";


// A port with a bound socket that never listens: connections to it are refused, and no other process can take it
// while the socket is open.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~ClosedPort() { ::close(fd_); }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class JobServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InMemoryJobServiceOptions options;
    options.clock = [this] { return clock_.Now(); };
    inner_ = std::make_unique<InMemoryJobService>(options);
    service_ = std::make_unique<RecordingJobService>(*inner_);
    absl::StatusOr<LocalServer> server = StartLocalServer(service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    address_ = absl::StrCat("127.0.0.1:", server_.port);
    client_ = MakeClient(address_, "");
  }

  void TearDown() override {
    inner_->Shutdown();
    if (server_.server != nullptr) server_.server->Shutdown();
  }

  static std::unique_ptr<JobClient> MakeClient(const std::string& address, const std::string& token) {
    ConnectionOptions options;
    options.server = address;
    options.token = token;
    options.timeout = absl::Seconds(20);  // A hung server fails the test instead of timing out ctest.
    absl::StatusOr<std::unique_ptr<JobClient>> client = JobClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = tmp_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  // Submits kValidSpec (or `yaml`) and returns the job's name as printed.
  std::string MustSubmit(const std::string& yaml = kValidSpec, const std::string& request_id = "") {
    SubmitOptions options;
    options.spec_path = WriteFile("job.yaml", yaml);
    options.request_id = request_id;
    std::ostringstream out;
    const absl::Status status = JobSubmit(*client_, options, OutputFormat::kTable, out);
    EXPECT_TRUE(status.ok()) << status;
    std::string name = out.str();
    if (!name.empty() && name.back() == '\n') name.pop_back();
    return name;
  }

  FakeClock clock_;
  TempDir tmp_{"ftd_job_server"};
  std::unique_ptr<InMemoryJobService> inner_;
  std::unique_ptr<RecordingJobService> service_;
  LocalServer server_;
  std::string address_;
  std::unique_ptr<JobClient> client_;
};

}  // namespace ftd
