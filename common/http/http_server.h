// HttpServer: the small HTTP side of a daemon: /metrics for Prometheus, /healthz and /readyz for the orchestrator's
// probes. cpp-httplib stays inside http_server.cc, so including this header pulls in no HTTP library.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"

namespace ftd {

struct HttpServerOptions {
  // Where to listen: "127.0.0.1" (the default: this machine only), "0.0.0.0" for every interface (a pod), or any
  // local address.
  std::string address = "127.0.0.1";
  // 0: an ephemeral port chosen by the kernel (tests); HttpServer::port() tells which after Start.
  int port = 0;
  // What /metrics serves. Required; not owned, must outlive the server.
  const MetricsExporter* metrics = nullptr;
  // Asked on every GET /readyz, on a server thread (so it must be thread-safe and quick): OK gives 200 "ok",
  // anything else 503 with the status message as the body. Unset: always ready.
  std::function<absl::Status()> readiness;
  // Threads serving requests (a scrape and a few probes at a time need few).
  int threads = 4;
};

// Serves, for GET (and HEAD):
//   /metrics  200, the exporter's text and content type (text/plain; version=0.0.4; charset=utf-8 for ours);
//   /healthz  200 "ok" as long as the process serves at all (liveness);
//   /readyz   200 "ok" or 503 "<why not>" from HttpServerOptions::readiness (readiness);
// and 404 for anything else.
//
// Lifecycle: Create (checks options, binds nothing), Start (binds, listens, serves on its own threads), Stop (stops
// accepting, waits for requests in flight and up to ~1 s for idle keep-alive connections). Destruction stops it.
// Start after Stop is refused: make a new server. Threading: Start, Stop and the destructor are for the owner's
// thread; port() may be read from any thread once Start has returned.
class HttpServer {
 public:
  // INVALID_ARGUMENT for no exporter, an empty address, a port outside 0..65535 or threads < 1.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving; returns once the port accepts connections. UNAVAILABLE when the address cannot be
  // bound (port in use, not a local address); FAILED_PRECONDITION when already started (or stopped).
  absl::Status Start();
  // Idempotent; a no-op before Start.
  void Stop();

  // The bound port after Start (the kernel's choice for port 0); 0 before.
  int port() const;
  const std::string& address() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ftd
