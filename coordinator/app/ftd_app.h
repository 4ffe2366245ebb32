// FtdApplication: the `ftd` coordinator daemon wired up: the RocksDB store, the JobEvents hub, the JobService and
// WorkerService on one gRPC server (with the gRPC health service and server reflection), and the HTTP server for
// /metrics, /healthz and /readyz. RunFtd is the whole program behind main: flags, then Create, Start, Run.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ftd {

struct FtdOptions {
  // Where the coordinator keeps its state (the store lives in <data_dir>/store). Created when absent. Required.
  std::string data_dir;
  // gRPC address "host:port"; port 0 lets the kernel choose (grpc_port() tells which).
  std::string listen = "127.0.0.1:7070";
  // HTTP address "host:port" for /metrics, /healthz, /readyz; port 0 allowed (http_port()).
  std::string http_listen = "127.0.0.1:9090";
  // A worker's lease after each registration or heartbeat.
  absl::Duration lease_duration = absl::Seconds(30);
  // How often Run sweeps expired leases (and checks for a stop signal).
  absl::Duration lease_check_interval = absl::Seconds(1);
  // A job that lost a rank is placed again after this long, doubling with each restart (capped at 5 min).
  absl::Duration restart_backoff = absl::Seconds(5);
  // Directories a job spec's files may be in (coordinator/service/path_roots.h); empty: anywhere.
  std::vector<std::string> allowed_roots;
  // Bearer tokens, one `TOKEN USER [admin|worker]` per line (coordinator/service/auth.h); empty: no authentication.
  std::string token_file;
  // PEM files for TLS: the server's certificate and key (empty: plain text) and the CA of workers' client certificates.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // How long gRPC shutdown waits for calls in flight before cancelling them.
  absl::Duration shutdown_grace = absl::Seconds(5);
};

// Lifecycle: Create (opens the store, builds the services; binds nothing), Start (binds and serves gRPC, then
// HTTP), Run (blocks until SIGINT or SIGTERM, then shuts down in order: the events hub and rendezvous waits, gRPC
// with shutdown_grace, HTTP, the store). Destroying a started application that did not Run shuts it down the same
// way. Run needs SIGINT and SIGTERM blocked in every thread (RunFtd blocks them before Create, so the threads the
// servers start inherit the mask) and waits for them with sigtimedwait. Owner's thread only.
class FtdApplication {
 public:
  static absl::StatusOr<std::unique_ptr<FtdApplication>> Create(FtdOptions options,
                                                                 std::function<absl::Time()> clock);
  ~FtdApplication();
  FtdApplication(const FtdApplication&) = delete;
  FtdApplication& operator=(const FtdApplication&) = delete;

  // UNAVAILABLE when an address cannot be bound; INVALID_ARGUMENT for an address that is not "host:port".
  absl::Status Start();
  // Returns once a stop signal came and everything is shut down; an error when the shutdown itself failed.
  absl::Status Run();

  // The bound ports after Start.
  int grpc_port() const;
  int http_port() const;

  struct Parts;  // Defined in ftd_app.cc.

 private:
  explicit FtdApplication(std::unique_ptr<Parts> parts);
  void Shutdown();
  std::unique_ptr<Parts> parts_;
};

// The daemon's command line: --data-dir (required), --listen, --http-listen, --lease-seconds, --restart-backoff-seconds, --allowed-root, --token-file, --tls-cert,
// --tls-key, --tls-client-ca. Prints the bound
// addresses as "ftd: serving gRPC on HOST:PORT" and "ftd: serving HTTP on HOST:PORT". Returns the exit code: 0
// after a clean stop on SIGINT/SIGTERM, 1 on a startup or shutdown error, CLI11's code on a bad command line.
int RunFtd(int argc, char** argv);

}  // namespace ftd
