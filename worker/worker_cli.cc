// ftd-worker subcommands. Built today: `devices` (the GPU inventory a worker reports when it registers) and
// `score` (lm-eval loglikelihood requests). `serve`, `train`, `generate` and `eval` arrive with the training
// and coordinator issues.
#include "worker/worker_cli.h"

#include <cstdio>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "kernels/device_query.h"
#include "worker/score_command.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

int RunDevices(bool json, bool probe) {
  absl::StatusOr<GpuInventory> inventory = QueryGpus();
  if (!inventory.ok()) {
    std::cerr << "ftd-worker devices: " << inventory.status() << "\n";
    return 1;
  }
  int exit_code = 0;
  nlohmann::json out = nlohmann::json::object();
  out["cuda_compiled_in"] = CudaCompiledIn();
  out["devices"] = nlohmann::json::array();
  if (!inventory->unavailable_reason.empty()) out["unavailable_reason"] = inventory->unavailable_reason;
  for (const GpuDevice& d : inventory->devices) {
    nlohmann::json entry = {{"index", d.index},
                            {"name", d.name},
                            {"compute_capability", absl::StrFormat("%d.%d", d.compute_major, d.compute_minor)},
                            {"total_memory_bytes", d.total_memory_bytes},
                            {"multiprocessors", d.multiprocessors},
                            {"pci_bus_id", d.pci_bus_id}};
    if (probe) {
      absl::Status status = ProbeGpu(d.index);
      entry["probe"] = status.ok() ? "ok" : std::string(status.message());
      if (!status.ok()) exit_code = 1;
    }
    out["devices"].push_back(std::move(entry));
  }
  if (json) {
    std::cout << out.dump(2) << "\n";
    return exit_code;
  }
  if (inventory->devices.empty()) {
    std::cout << "no GPU: " << inventory->unavailable_reason << "\n";
    return exit_code;
  }
  std::cout << absl::StrFormat("%-5s %-28s %-7s %10s %5s %-14s%s\n", "INDEX", "NAME", "SM", "MEMORY", "SMS",
                               "PCI", probe ? " PROBE" : "");
  for (const nlohmann::json& e : out["devices"]) {
    std::cout << absl::StrFormat("%-5d %-28s %-7s %8.1fGi %5d %-14s%s\n", e["index"].get<int>(),
                                 e["name"].get<std::string>(), e["compute_capability"].get<std::string>(),
                                 e["total_memory_bytes"].get<double>() / (1024.0 * 1024 * 1024),
                                 e["multiprocessors"].get<int>(), e["pci_bus_id"].get<std::string>(),
                                 probe ? " " + e["probe"].get<std::string>() : "");
  }
  return exit_code;
}

}  // namespace

int RunWorkerCli(int argc, char** argv) {
  CLI::App app{"ftd-worker: runs fine-tuning ranks and evaluations on one GPU or CPU slot"};
  app.require_subcommand(1);

  bool json = false;
  bool probe = false;
  CLI::App* devices = app.add_subcommand("devices", "List the GPUs this worker can use");
  devices->add_flag("--json", json, "Print JSON instead of a table");
  devices->add_flag("--probe", probe, "Run a small kernel on each GPU to prove this build's device code runs");

  ScoreOptions score_options;
  CLI::App* score = app.add_subcommand("score", "Score lm-eval loglikelihood requests (JSONL) with a model");
  score->add_option("--model", score_options.model_dir, "Hugging Face model directory")->required();
  score->add_option("--requests", score_options.requests_path,
                    "JSONL: {\"context\", \"continuation\"} or {\"text\"} (rolling) per line")->required();
  score->add_option("--adapter", score_options.adapter_dir, "PEFT LoRA adapter directory to apply");
  score->add_option("--max-length", score_options.max_length, "Model window in tokens (default: the config's)");

  CLI11_PARSE(app, argc, argv);
  if (*devices) return RunDevices(json, probe);
  if (*score) {
    absl::Status status = RunScore(score_options, std::cout);
    if (!status.ok()) {
      std::cerr << "ftd-worker score: " << status.message() << "\n";
      return 1;
    }
    return 0;
  }
  return 2;
}

}  // namespace ftd
