// `ftd-worker serve --coordinator ADDR --work-dir DIR`: flags -> WorkerAgent, SIGINT/SIGTERM -> a clean stop.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/http/host_port.h"
#include "kernels/device_query.h"
#include "common/http/http_server.h"
#include "common/metrics/build_info.h"
#include "common/metrics/text_registry.h"
#include "worker/serve_subcommand.h"
#include "worker/service/worker_agent.h"
#include "worker/service/worker_metrics.h"

namespace ftd {

ServeSubcommand AddServeSubcommand(CLI::App& app) {
  auto options = std::make_shared<WorkerAgentOptions>();
  auto labels = std::make_shared<std::vector<std::string>>();
  auto report_seconds = std::make_shared<double>(1.0);
  auto http_listen = std::make_shared<std::string>();
  auto gpu = std::make_shared<int>(-1);
  ServeSubcommand serve;
  CLI::App* command = app.add_subcommand("serve", "Join an ftd coordinator and run the ranks it assigns");
  command->add_option("--coordinator", options->coordinator.address, "The coordinator's gRPC address, HOST:PORT")
      ->required();
  command->add_option("--work-dir", options->work_dir, "Directory for the ranks' files (specs, outputs, checkpoints)")
      ->required();
  command->add_option("--token", options->coordinator.token,
                      "Bearer token (else $FTD_TOKEN); visible to `ps`, prefer $FTD_TOKEN");
  command->add_option("--tls-ca", options->coordinator.tls_ca,
                      "PEM CA of the coordinator's certificate: connect with TLS (default: plain text)");
  command->add_option("--tls-cert", options->coordinator.tls_cert, "PEM client certificate for the coordinator");
  command->add_option("--tls-key", options->coordinator.tls_key, "PEM key of --tls-cert");
  command->add_option("--gpu", *gpu,
                      "CUDA device index this worker drives (one worker process per GPU; default: a CPU worker)");
  command->add_option("--cpu-cores", options->cpu_cores, "CPU cores offered (default 1)");
  command->add_option("--memory-bytes", options->memory_bytes, "Memory offered in bytes (default: all of it)");
  command->add_option("--host", options->host, "Host name reported (default: gethostname)");
  command->add_option("--advertise-address", options->advertise_address,
                      "Address other ranks reach this host at (default: the one the coordinator sees)");
  command->add_option("--label", *labels, "Placement label KEY=VALUE (repeatable)");
  command->add_option("--collective-timeout", options->collective_timeout_s,
                      "Seconds a rank's collective call may wait for its peers (default 60)");
  command->add_option("--peak-flops", options->peak_flops,
                      "The device's peak FLOP/s, the denominator of the ranks' MFU (default: each rank's backend's "
                      "nominal figure)");
  command->add_option("--report-interval", *report_seconds, "Seconds between metric reports (default 1)");
  command->add_option("--http-listen", *http_listen,
                      "HOST:PORT for /metrics, /healthz, /readyz (port 0: any free port; default: no HTTP)");
  serve.command = command;
  serve.run = [options, labels, report_seconds, http_listen, gpu]() -> int {
    if (options->coordinator.token.empty()) {
      if (const char* token = std::getenv("FTD_TOKEN"); token != nullptr) options->coordinator.token = token;
    }
    for (const std::string& label : *labels) {
      const size_t eq = label.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "ftd-worker serve: --label " << label << ": want KEY=VALUE\n";
        return 2;
      }
      options->labels[label.substr(0, eq)] = label.substr(eq + 1);
    }
    if (*report_seconds <= 0) {
      std::cerr << "ftd-worker serve: --report-interval must be positive\n";
      return 2;
    }
    options->report_interval = absl::Seconds(*report_seconds);
    std::error_code ec;
    options->worker_binary = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) {
      std::cerr << "ftd-worker serve: cannot find this executable: " << ec.message() << "\n";
      return 1;
    }
    options->version = FTD_VERSION;
    options->cuda_compiled_in = CudaCompiledIn();
    if (*gpu >= 0) {
      absl::StatusOr<GpuInventory> inventory = QueryGpus();
      if (!inventory.ok()) {
        std::cerr << "ftd-worker serve: --gpu " << *gpu << ": " << inventory.status().message() << "\n";
        return 1;
      }
      const GpuDevice* found = nullptr;
      for (const GpuDevice& device : inventory->devices) {
        if (device.index == *gpu) found = &device;
      }
      if (found == nullptr) {
        std::cerr << "ftd-worker serve: --gpu " << *gpu << ": no such GPU"
                  << (inventory->unavailable_reason.empty() ? "" : " (" + inventory->unavailable_reason + ")")
                  << "; `ftd-worker devices` lists them\n";
        return 1;
      }
      v1::GpuDevice& device = options->gpus.emplace_back();
      device.set_index(found->index);
      device.set_name(found->name);
      device.set_memory_bytes(found->total_memory_bytes);
      device.set_compute_capability_major(found->compute_major);
      device.set_compute_capability_minor(found->compute_minor);
      device.set_multiprocessors(found->multiprocessors);
      device.set_pci_bus_id(found->pci_bus_id);
    }
    // Stop signals go to one watcher thread; every other thread (gRPC's included) inherits the blocked mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    // /metrics, when asked for: the registry and probe outlive the agent (declared first, destroyed last).
    TextMetricsRegistry registry;
    std::unique_ptr<WorkerMetrics> metrics;
    std::unique_ptr<HttpServer> http;
    if (!http_listen->empty()) {
      absl::StatusOr<HostPort> address = ParseHostPort(*http_listen, "--http-listen");
      absl::StatusOr<std::unique_ptr<WorkerMetrics>> made = WorkerMetrics::Create(registry);
      const absl::Status build_info = RegisterBuildInfo(registry, "ftd-worker");
      if (!address.ok() || !made.ok() || !build_info.ok()) {
        const absl::Status failed = !address.ok() ? address.status() : !made.ok() ? made.status() : build_info;
        std::cerr << "ftd-worker serve: " << failed.message() << "\n";
        return 2;
      }
      metrics = *std::move(made);
      options->metrics = metrics.get();
      HttpServerOptions http_options;
      http_options.address = address->host;
      http_options.port = address->port;
      http_options.metrics = &registry;
      absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(http_options);
      absl::Status started = server.ok() ? (*server)->Start() : server.status();
      if (!started.ok()) {
        std::cerr << "ftd-worker serve: --http-listen " << *http_listen << ": " << started.message() << "\n";
        return 1;
      }
      http = *std::move(server);
      std::cout << "ftd-worker: serving HTTP on " << JoinHostPort(address->host, http->port()) << std::endl;
    }
    absl::StatusOr<std::unique_ptr<WorkerAgent>> agent = WorkerAgent::Create(*options);
    if (!agent.ok()) {
      std::cerr << "ftd-worker serve: " << agent.status().message() << "\n";
      return 1;
    }
    std::atomic<bool> done{false};
    std::thread watcher([&] {
      const timespec poll = {0, 200 * 1000 * 1000};
      while (!done.load()) {
        if (sigtimedwait(&stop_signals, nullptr, &poll) > 0) {
          std::cerr << "ftd-worker serve: stopping (signal)\n";
          (*agent)->Stop();
          return;
        }
      }
    });
    const absl::Status status = (*agent)->Run();
    done.store(true);
    watcher.join();
    agent->reset();
    if (!status.ok()) {
      std::cerr << "ftd-worker serve: " << status.message() << "\n";
      return 1;
    }
    return 0;
  };
  return serve;
}

}  // namespace ftd
