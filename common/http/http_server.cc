// HttpServer over cpp-httplib (Debian's compiled libcpp-httplib): the routes, binding and the serving thread.
#include "common/http/http_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ftd {
namespace {

constexpr char kPlainText[] = "text/plain; charset=utf-8";
// An idle keep-alive connection holds a server thread this long; Stop waits for it, so keep it short. Prometheus
// simply reconnects for the next scrape.
constexpr int kKeepAliveTimeoutSeconds = 1;

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  httplib::Server server;
  std::thread serving_thread;
  std::atomic<int> port{0};
  std::atomic<bool> listen_returned{false};
  bool started = false;
  bool stopped = false;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(HttpServerOptions options) {
  if (options.metrics == nullptr) return absl::InvalidArgumentError("HttpServer needs a MetricsExporter");
  if (options.address.empty()) return absl::InvalidArgumentError("HttpServer needs an address to listen on");
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("HttpServer port ", options.port, " is not in 0..65535"));
  }
  if (options.threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("HttpServer needs at least one thread, not ", options.threads));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);

  httplib::Server& server = impl->server;
  const int threads = impl->options.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  server.set_keep_alive_timeout(kKeepAliveTimeoutSeconds);
  // Replaces httplib's default, which sets SO_REUSEPORT: that lets a second process bind the same port and silently
  // take half the scrapes. SO_REUSEADDR alone still allows a quick restart over TIME_WAIT connections. Close-on-exec
  // keeps the listening socket out of the programs a daemon starts (they would hold the port open after we stop).
  server.set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    ::fcntl(sock, F_SETFD, ::fcntl(sock, F_GETFD) | FD_CLOEXEC);
  });

  const MetricsExporter* metrics = impl->options.metrics;
  server.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(metrics->Expose(), metrics->ContentType().c_str());
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content("ok", kPlainText);
  });
  const std::function<absl::Status()>* readiness = &impl->options.readiness;  // Impl outlives the server.
  server.Get("/readyz", [readiness](const httplib::Request&, httplib::Response& res) {
    const absl::Status ready = *readiness ? (*readiness)() : absl::OkStatus();
    if (ready.ok()) {
      res.status = 200;
      res.set_content("ok", kPlainText);
    } else {
      res.status = 503;
      res.set_content(std::string(ready.message()), kPlainText);
    }
  });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

absl::Status HttpServer::Start() {
  Impl& impl = *impl_;
  if (impl.started) return absl::FailedPreconditionError("HttpServer already started; make a new one to restart");
  const std::string& address = impl.options.address;
  int port = impl.options.port;
  if (port == 0) {
    port = impl.server.bind_to_any_port(address);
    if (port < 0) port = 0;
  } else if (!impl.server.bind_to_port(address, port)) {
    port = 0;
  }
  if (port == 0) {
    return absl::UnavailableError(absl::StrCat("HttpServer cannot listen on ", address, ":", impl.options.port,
                                               " (port in use, or not a local address)"));
  }
  impl.started = true;
  impl.port = port;
  impl.serving_thread = std::thread([&impl] {
    impl.server.listen_after_bind();
    impl.listen_returned = true;
  });
  // The socket already accepts connections (they queue), but httplib's stop() only works once the loop runs:
  // wait for that so a Stop right after Start cannot be lost.
  while (!impl.server.is_running() && !impl.listen_returned) std::this_thread::yield();
  return absl::OkStatus();
}

void HttpServer::Stop() {
  Impl& impl = *impl_;
  if (!impl.started || impl.stopped) return;
  impl.stopped = true;
  impl.server.stop();
  if (impl.serving_thread.joinable()) impl.serving_thread.join();
}

int HttpServer::port() const { return impl_->port; }

const std::string& HttpServer::address() const { return impl_->options.address; }

}  // namespace ftd
