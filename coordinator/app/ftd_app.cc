// FtdApplication and RunFtd: the coordinator daemon's wiring (construct), serving (start, run) and ordered
// shutdown; the only place the daemon's flags are parsed.
#include "coordinator/app/ftd_app.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <system_error>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/http/host_port.h"
#include "common/http/http_server.h"
#include "common/logging.h"
#include "common/metrics/build_info.h"
#include "common/metrics/text_registry.h"
#include "common/status_macros.h"
#include "coordinator/app/coordinator_metrics.h"
#include "coordinator/service/job_events.h"
#include "coordinator/service/job_service.h"
#include "coordinator/service/auth.h"
#include "coordinator/service/grpc_metrics.h"
#include "coordinator/service/job_metrics.h"
#include "coordinator/service/job_runtime.h"
#include "coordinator/service/path_roots.h"
#include "coordinator/service/scheduling_loop.h"
#include "coordinator/service/worker_listing.h"
#include "coordinator/service/worker_service.h"
#include "coordinator/store/coordinator_store.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"

namespace ftd {
namespace {

// The longest the control thread waits between cycles when nothing wakes it (restart backoffs end by the clock
// alone); submits, registrations and freed ranks wake it at once (SchedulingLoop::Wake).
constexpr absl::Duration kScheduleInterval = absl::Milliseconds(500);


}  // namespace

// Declared in destruction order reversed: the servers go first, the store last.
struct FtdApplication::Parts {
  FtdOptions options;
  std::function<absl::Time()> clock;
  std::shared_ptr<const TokenTable> tokens;
  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::unique_ptr<CoordinatorStore> store;
  std::unique_ptr<JobEvents> events;
  std::unique_ptr<CoordinatorJobService> job_service;
  std::unique_ptr<CoordinatorWorkerService> worker_service;
  std::unique_ptr<TextMetricsRegistry> registry;  // Before every probe that holds its families.
  std::unique_ptr<JobMetrics> job_metrics;
  std::unique_ptr<JobRuntime> runtime;
  std::unique_ptr<SchedulingLoop> scheduler;
  std::unique_ptr<CoordinatorMetrics> metrics;
  std::unique_ptr<GrpcServerMetrics> grpc_metrics;  // Its interceptors run inside the gRPC server below.
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<grpc::Server> grpc;
  std::atomic<bool> stopping{false};
  int grpc_port = 0;
  bool started = false;
  bool shut_down = false;
};

FtdApplication::FtdApplication(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

FtdApplication::~FtdApplication() { Shutdown(); }

absl::StatusOr<std::unique_ptr<FtdApplication>> FtdApplication::Create(FtdOptions options,
                                                                       std::function<absl::Time()> clock) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("data_dir is required");
  RETURN_IF_ERROR(ParseHostPort(options.listen, "listen").status());
  ASSIGN_OR_RETURN(const HostPort http_address, ParseHostPort(options.http_listen, "http_listen"));
  std::error_code error;
  std::filesystem::create_directories(options.data_dir, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("cannot create ", options.data_dir, ": ", error.message()));
  }

  auto parts = std::make_unique<Parts>();
  parts->options = options;
  parts->clock = std::move(clock);
  ASSIGN_OR_RETURN(parts->store, CoordinatorStore::Open(absl::StrCat(options.data_dir, "/store")));
  parts->events = std::make_unique<JobEvents>();
  ASSIGN_OR_RETURN(PathRoots roots, PathRoots::Create(options.allowed_roots));
  if (!options.token_file.empty()) {
    ASSIGN_OR_RETURN(TokenTable table, LoadTokenFile(options.token_file));
    for (const std::string& warning : table.warnings) FTD_LOG(WARNING) << "ftd: " << warning;
    parts->tokens = std::make_shared<const TokenTable>(std::move(table));
  }
  ServerTlsOptions tls;
  tls.cert_path = options.tls_cert;
  tls.key_path = options.tls_key;
  tls.client_ca_path = options.tls_client_ca;
  ASSIGN_OR_RETURN(parts->credentials, MakeServerCredentials(tls, parts->tokens));  // Bad files fail here.
  parts->registry = std::make_unique<TextMetricsRegistry>();
  RETURN_IF_ERROR(RegisterBuildInfo(*parts->registry, "ftd"));
  ASSIGN_OR_RETURN(parts->job_metrics, JobMetrics::Create(*parts->registry));
  JobServiceOptions job_options;
  job_options.path_roots = std::move(roots);
  job_options.tokens = parts->tokens;
  job_options.metrics = parts->job_metrics.get();
  job_options.on_cancelled = [raw = parts.get()](const v1::Job& before) {
    raw->runtime->AbortRanks(before, "the job was cancelled");
    raw->scheduler->Wake();
  };
  job_options.on_submitted = [raw = parts.get()] { raw->scheduler->Wake(); };
  Parts* raw = parts.get();  // The worker service and runtime are made below; the lambdas run only once serving.
  job_options.list_workers = [raw] { return ListWorkerInfos(*raw->store, raw->worker_service->LeaseExpiries()); };
  job_options.scratch_dir = absl::StrCat(options.data_dir, "/scratch");
  ASSIGN_OR_RETURN(parts->job_service,
                   CoordinatorJobService::Create(*parts->store, *parts->events, parts->clock, job_options));
  WorkerServiceOptions worker_options;
  worker_options.lease_duration = options.lease_duration;
  worker_options.on_registered = [raw = parts.get()] { raw->scheduler->Wake(); };
  ASSIGN_OR_RETURN(parts->worker_service,
                   CoordinatorWorkerService::Create(*parts->store, parts->clock, worker_options));
  JobRuntimeOptions runtime_options;
  runtime_options.restart.initial_backoff = options.restart_backoff;
  runtime_options.metrics = parts->job_metrics.get();
  runtime_options.on_slots_changed = [raw = parts.get()] { raw->scheduler->Wake(); };
  parts->runtime = std::make_unique<JobRuntime>(*parts->store, *parts->events, *parts->worker_service, parts->clock,
                                                runtime_options);
  parts->worker_service->AttachRuntime(parts->runtime.get());
  SchedulingLoopOptions scheduling_options;
  scheduling_options.metrics = parts->job_metrics.get();
  parts->scheduler = std::make_unique<SchedulingLoop>(*parts->store, *parts->events, *parts->worker_service,
                                                     parts->clock, scheduling_options);
  CoordinatorWorkerService* workers = parts->worker_service.get();
  ASSIGN_OR_RETURN(parts->metrics, CoordinatorMetrics::Create(*parts->registry, *parts->registry, *parts->store,
                                                             [workers] { return workers->LeaseExpiries(); },
                                                             parts->clock));
  ASSIGN_OR_RETURN(parts->grpc_metrics, GrpcServerMetrics::Create(*parts->registry));
  HttpServerOptions http_options;
  http_options.address = http_address.host;
  http_options.port = http_address.port;
  http_options.metrics = parts->metrics.get();
  const std::atomic<bool>* stopping = &parts->stopping;
  http_options.readiness = [stopping]() {
    return stopping->load() ? absl::UnavailableError("shutting down") : absl::OkStatus();
  };
  ASSIGN_OR_RETURN(parts->http, HttpServer::Create(std::move(http_options)));
  return std::unique_ptr<FtdApplication>(new FtdApplication(std::move(parts)));
}

absl::Status FtdApplication::Start() {
  Parts& p = *parts_;
  if (p.started) return absl::FailedPreconditionError("already started");
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(p.options.listen, p.credentials, &p.grpc_port);
  // Larger requests fail with RESOURCE_EXHAUSTED before any handler runs.
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
  builder.RegisterService(p.job_service.get());
  builder.RegisterService(p.worker_service.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(p.grpc_metrics->InterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  p.grpc = builder.BuildAndStart();
  if (p.grpc == nullptr || p.grpc_port == 0) {
    p.grpc.reset();
    return absl::UnavailableError(absl::StrCat("cannot serve gRPC on ", p.options.listen));
  }
  p.started = true;
  RETURN_IF_ERROR(p.http->Start());
  return absl::OkStatus();
}

int FtdApplication::grpc_port() const { return parts_->grpc_port; }
int FtdApplication::http_port() const { return parts_->http->port(); }

absl::Status FtdApplication::Run() {
  Parts& p = *parts_;
  if (!p.started) return absl::FailedPreconditionError("Run before Start");
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  // The control thread sweeps leases (every lease_check_interval), releases restarts and runs a scheduling cycle,
  // in that order, so a cycle never sees a worker half-expired; it cycles again as soon as something wakes the
  // scheduler (a submit, a registration, freed ranks) or after a tick. This thread only waits for a stop signal.
  const absl::Duration tick = std::min(p.options.lease_check_interval, kScheduleInterval);
  std::thread control([&p, tick] {
    absl::Time next_sweep = absl::Now() + p.options.lease_check_interval;
    while (!p.stopping.load()) {
      if (absl::Now() >= next_sweep) {
        next_sweep = absl::Now() + p.options.lease_check_interval;
        const std::vector<std::string> expired = p.worker_service->ExpireLeases(p.clock());
        p.metrics->LeasesExpired(static_cast<int>(expired.size()));
        for (const std::string& id : expired) FTD_LOG(WARNING) << "ftd: worker workers/" << id << " lost its lease";
        p.runtime->WorkersLost(expired);
      }
      if (absl::StatusOr<int> released = p.runtime->ReleaseRestarts(); !released.ok()) {
        FTD_LOG(WARNING) << "ftd: releasing restarts: " << released.status();
      }
      if (absl::StatusOr<int> placed = p.scheduler->RunCycle(); !placed.ok()) {
        FTD_LOG(WARNING) << "ftd: scheduling cycle: " << placed.status();
      }
      p.scheduler->WaitForWake(std::min(tick, std::max(next_sweep - absl::Now(), absl::ZeroDuration())));
    }
  });
  const timespec wait = absl::ToTimespec(absl::Milliseconds(500));
  absl::Status result = absl::OkStatus();
  while (true) {
    const int received = sigtimedwait(&stop_signals, nullptr, &wait);
    if (received == SIGINT || received == SIGTERM) {
      FTD_LOG(INFO) << "ftd: signal " << received << ", shutting down";
      break;
    }
    if (received < 0 && errno != EAGAIN && errno != EINTR) {
      result = absl::InternalError(absl::StrCat("sigtimedwait: ", std::generic_category().message(errno)));
      break;
    }
  }
  p.stopping.store(true);
  p.scheduler->Wake();
  control.join();
  Shutdown();
  return result;
}

void FtdApplication::Shutdown() {
  Parts& p = *parts_;
  if (p.shut_down) return;
  p.shut_down = true;
  p.stopping.store(true);
  // Blocked WatchJob, WatchAssignments and RendezvousWait calls return first, so the gRPC shutdown does not wait out
  // its grace. No cycle runs any more: Run's control thread has ended (or never started).
  p.events->Shutdown();
  p.worker_service->Shutdown();
  if (p.grpc != nullptr) p.grpc->Shutdown(absl::ToChronoTime(absl::Now() + p.options.shutdown_grace));
  p.http->Stop();
  p.grpc.reset();
  p.store.reset();  // Closes RocksDB; the services hold references but serve nothing any more.
}

int RunFtd(int argc, char** argv) {
  CLI::App app{"ftd: the ftd fine-tuning service's coordinator daemon"};
  FtdOptions options;
  double lease_seconds = absl::ToDoubleSeconds(options.lease_duration);
  double restart_backoff_seconds = absl::ToDoubleSeconds(options.restart_backoff);
  app.add_option("--data-dir", options.data_dir, "Directory of the coordinator's state (created when absent)")
      ->required();
  app.add_option("--listen", options.listen, "gRPC address host:port (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--http-listen", options.http_listen,
                 "HTTP address host:port for /metrics, /healthz, /readyz (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--lease-seconds", lease_seconds, "Worker lease after each registration or heartbeat")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--allowed-root", options.allowed_roots,
                 "Directory job specs' model and data files must be in (repeatable; default: anywhere)");
  app.add_option("--token-file", options.token_file,
                 "Bearer tokens, `TOKEN USER [admin|worker]` per line (default: no authentication)");
  app.add_option("--tls-cert", options.tls_cert, "PEM certificate chain of the server (default: plain text)");
  app.add_option("--tls-key", options.tls_key, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", options.tls_client_ca, "PEM CA that workers' client certificates must chain to");
  app.add_option("--restart-backoff-seconds", restart_backoff_seconds,
                 "Wait before re-placing a job that lost a rank; doubles per restart, at most 5 min")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  options.lease_duration = absl::Seconds(lease_seconds);
  options.restart_backoff = absl::Seconds(restart_backoff_seconds);

  // Blocked before any thread starts, so every server thread inherits the mask and only Run's sigtimedwait
  // receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<FtdApplication>> daemon = FtdApplication::Create(options, [] { return absl::Now(); });
  if (!daemon.ok()) {
    std::cerr << "ftd: " << daemon.status() << "\n";
    return 1;
  }
  if (absl::Status started = (*daemon)->Start(); !started.ok()) {
    std::cerr << "ftd: " << started << "\n";
    return 1;
  }
  const std::string grpc_host = ParseHostPort(options.listen, "listen")->host;
  const std::string http_host = ParseHostPort(options.http_listen, "http_listen")->host;
  std::cout << "ftd: serving gRPC on " << JoinHostPort(grpc_host, (*daemon)->grpc_port()) << "\n"
            << "ftd: serving HTTP on " << JoinHostPort(http_host, (*daemon)->http_port()) << std::endl;
  if (absl::Status ran = (*daemon)->Run(); !ran.ok()) {
    std::cerr << "ftd: " << ran << "\n";
    return 1;
  }
  return 0;
}

}  // namespace ftd
