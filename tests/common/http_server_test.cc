// HttpServer on an ephemeral port, queried with httplib's client: /metrics (body and content type), /healthz,
// /readyz following its callback, 404 elsewhere, and the lifecycle (bad options, port clash, Stop).
#include "common/http/http_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/metrics/text_registry.h"
#include "gtest/gtest.h"

namespace ftd {
namespace {

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(std::move(options));
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  const absl::Status started = (*server)->Start();
  EXPECT_TRUE(started.ok()) << started;
  return *std::move(server);
}

TEST(HttpServerTest, ServesMetricsHealthAndReadiness) {
  TextMetricsRegistry registry;
  CounterFamily* scrapes = *registry.AddCounter("ftd_test_things_total", "Things.", {"kind"});
  (*scrapes->WithLabels({"a"}))->Increment(5);

  std::atomic<bool> ready{false};
  HttpServerOptions options;
  options.metrics = &registry;
  options.readiness = [&ready]() -> absl::Status {
    return ready ? absl::OkStatus() : absl::UnavailableError("store not open yet");
  };
  std::unique_ptr<HttpServer> server = StartServer(std::move(options));
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  EXPECT_EQ(server->address(), "127.0.0.1");

  httplib::Client client("127.0.0.1", server->port());
  httplib::Result metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metrics->body, registry.Expose());
  EXPECT_NE(metrics->body.find("ftd_test_things_total{kind=\"a\"} 5\n"), std::string::npos) << metrics->body;

  httplib::Result health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok");

  httplib::Result not_ready = client.Get("/readyz");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_EQ(not_ready->body, "store not open yet");
  ready = true;
  httplib::Result now_ready = client.Get("/readyz");
  ASSERT_TRUE(now_ready);
  EXPECT_EQ(now_ready->status, 200);
  EXPECT_EQ(now_ready->body, "ok");

  // Each scrape shows the registry as it is now.
  (*scrapes->WithLabels({"a"}))->Increment();
  httplib::Result again = client.Get("/metrics");
  ASSERT_TRUE(again);
  EXPECT_NE(again->body.find("ftd_test_things_total{kind=\"a\"} 6\n"), std::string::npos) << again->body;

  httplib::Result missing = client.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  const int port = server->port();
  server->Stop();
  server->Stop();  // Idempotent.
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(2);
  EXPECT_FALSE(after.Get("/healthz")) << "still serving after Stop";
}

TEST(HttpServerTest, ReadyWithoutACallback) {
  TextMetricsRegistry registry;
  HttpServerOptions options;
  options.metrics = &registry;
  std::unique_ptr<HttpServer> server = StartServer(std::move(options));
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  httplib::Result ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  // An empty registry is an empty exposition, still a valid one.
  httplib::Result metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "");
}

TEST(HttpServerTest, RefusesBadOptions) {
  TextMetricsRegistry registry;
  HttpServerOptions no_exporter;
  EXPECT_EQ(HttpServer::Create(no_exporter).status().code(), absl::StatusCode::kInvalidArgument);
  HttpServerOptions bad_port;
  bad_port.metrics = &registry;
  bad_port.port = 70000;
  EXPECT_EQ(HttpServer::Create(bad_port).status().code(), absl::StatusCode::kInvalidArgument);
  HttpServerOptions no_address;
  no_address.metrics = &registry;
  no_address.address = "";
  EXPECT_EQ(HttpServer::Create(no_address).status().code(), absl::StatusCode::kInvalidArgument);
  HttpServerOptions no_threads;
  no_threads.metrics = &registry;
  no_threads.threads = 0;
  EXPECT_EQ(HttpServer::Create(no_threads).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HttpServerTest, StartFailsOnAPortInUseAndTwice) {
  TextMetricsRegistry registry;
  HttpServerOptions options;
  options.metrics = &registry;
  std::unique_ptr<HttpServer> first = StartServer(options);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->Start().code(), absl::StatusCode::kFailedPrecondition);

  // The port is taken: a second server must fail, not share it.
  options.port = first->port();
  absl::StatusOr<std::unique_ptr<HttpServer>> second = HttpServer::Create(options);
  ASSERT_TRUE(second.ok());
  const absl::Status clash = (*second)->Start();
  EXPECT_EQ(clash.code(), absl::StatusCode::kUnavailable) << clash;
  EXPECT_EQ((*second)->port(), 0);

  // Not a local address.
  HttpServerOptions foreign;
  foreign.metrics = &registry;
  foreign.address = "192.0.2.1";  // TEST-NET-1: never assigned to this machine.
  absl::StatusOr<std::unique_ptr<HttpServer>> third = HttpServer::Create(foreign);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ((*third)->Start().code(), absl::StatusCode::kUnavailable);

  first->Stop();
  EXPECT_EQ(first->Start().code(), absl::StatusCode::kFailedPrecondition);
}

// A daemon starts other programs (Prometheus in the scrape test); they must not inherit the listening socket.
TEST(HttpServerTest, ListeningSocketIsCloseOnExec) {
  TextMetricsRegistry registry;
  HttpServerOptions options;
  options.metrics = &registry;
  std::unique_ptr<HttpServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  int listening_fd = -1;
  for (int fd = 0; fd < 4096 && listening_fd < 0; ++fd) {
    int accepting = 0;
    socklen_t len = sizeof(accepting);
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) continue;
    sockaddr_in addr{};
    socklen_t addr_len = sizeof(addr);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) == 0 && addr.sin_family == AF_INET &&
        ntohs(addr.sin_port) == server->port()) {
      listening_fd = fd;
    }
  }
  ASSERT_GE(listening_fd, 0) << "no listening socket on port " << server->port();
  EXPECT_NE(::fcntl(listening_fd, F_GETFD) & FD_CLOEXEC, 0);
}

TEST(HttpServerTest, StopBeforeStartAndDestroyWhileRunning) {
  TextMetricsRegistry registry;
  HttpServerOptions options;
  options.metrics = &registry;
  absl::StatusOr<std::unique_ptr<HttpServer>> idle = HttpServer::Create(options);
  ASSERT_TRUE(idle.ok());
  (*idle)->Stop();
  EXPECT_EQ((*idle)->port(), 0);
  // Start and destroy at once, many times: Stop must never be lost to the serving thread's start-up.
  for (int i = 0; i < 20; ++i) {
    std::unique_ptr<HttpServer> server = StartServer(options);
    ASSERT_NE(server, nullptr);
  }
}

}  // namespace
}  // namespace ftd
