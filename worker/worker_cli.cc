// ftd-worker subcommands: `devices` (the GPU inventory a worker reports when it registers), `train` (one rank of a
// fine-tuning job from a job-spec YAML; several local processes with --rank/--world-size/--rendezvous),
// `generate` (text from a prompt, KV cache), `score` (lm-eval loglikelihood requests), `eval` (one benchmark suite:
// lm-eval's metrics and stderrs; these three take `--quantize-base` to score a QLoRA adapter on the NF4 base it was
// trained on) and `serve` (join a coordinator and run the ranks it assigns; full build).
#include "worker/worker_cli.h"

#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "kernels/device_query.h"
#include "worker/eval_command.h"
#include "worker/generate_command.h"
#include "worker/inference_model.h"
#include "worker/score_command.h"
#include "worker/serve_subcommand.h"
#include "worker/train_command.h"
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

// `--quantize-base` on a command: checked while parsing (CLI11 prints the error), so the value read back is valid.
void AddQuantizeBaseOption(CLI::App* command, std::string& value) {
  command
      ->add_option("--quantize-base", value,
                   "NF4-quantise the model's projections at load, as QLoRA trained an adapter on them: nf4 (fp32 "
                   "absmax) or nf4-double-quant (bnb_4bit_use_double_quant); default: the weights as stored")
      ->check(CLI::Validator(
          [](std::string& text) {
            const absl::StatusOr<std::optional<Nf4Statistics>> parsed = ParseQuantizeBase(text);
            // CLI11 names the option itself: "--quantize-base: must be nf4 or nf4-double-quant, got ...".
            return parsed.ok() ? std::string()
                               : std::string(absl::StripPrefix(parsed.status().message(), "--quantize-base "));
          },
          "nf4|nf4-double-quant"));
}

// A value AddQuantizeBaseOption's check accepted (so never an error here).
std::optional<Nf4Statistics> QuantizeBase(const std::string& value) { return *ParseQuantizeBase(value); }

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
  std::string score_quantize_base;
  AddQuantizeBaseOption(score, score_quantize_base);

  GenerateOptions generate_options;
  bool generate_json = false;
  CLI::App* generate = app.add_subcommand("generate", "Generate text from a prompt with a model (KV cache)");
  generate->add_option("--model", generate_options.model_dir, "Hugging Face model directory")->required();
  generate->add_option("--adapter", generate_options.adapter_dir, "PEFT LoRA adapter directory to apply");
  std::string generate_quantize_base;
  AddQuantizeBaseOption(generate, generate_quantize_base);
  generate->add_option("--prompt", generate_options.prompt, "Prompt text (BOS added as the tokenizer does)")
      ->required();
  generate->add_option("--max-new-tokens", generate_options.max_new_tokens, "Tokens to generate at most (64)");
  generate->add_option("--temperature", generate_options.sampling.temperature,
                       "0 (default): greedy; > 0: sample from softmax(logits / T)");
  generate->add_option("--top-p", generate_options.sampling.top_p,
                       "Sample from the smallest set of top tokens whose probability reaches P (default 1)");
  generate->add_option("--seed", generate_options.seed, "Sampling seed (default 0)");
  generate->add_flag("--json", generate_json,
                     "Print {\"prompt_tokens\", \"generated_ids\", \"text\", \"stop_reason\"} instead of the text");

  TrainCommandOptions train_options;
  CLI::App* train = app.add_subcommand("train", "Fine-tune a model in this process from a job-spec YAML");
  train->add_option("config", train_options.config_path, "Job-spec YAML (the keys of ftctl submit)")->required();
  train->add_option("--output", train_options.output_dir, "Directory for the PEFT adapter (lora) or model (full)")
      ->required();
  train->add_option("--log", train_options.log_path, "Step log, JSON lines (default OUTPUT/train_log.jsonl)");
  train->add_flag("--json", train_options.json, "Print each step as a JSON line instead of text");
  train->add_option("--rank", train_options.rank, "This process's rank, 0..N-1 (default 0)");
  train->add_option("--world-size", train_options.world_size,
                    "Ranks of the job (default: the job spec's world_size); every rank runs this command");
  train->add_option("--rendezvous", train_options.rendezvous,
                    "Where the ranks meet: file:DIR (a directory every rank can reach, empty at each launch) or "
                    "coordinator:HOST:PORT/jobs/{job}/{attempt}");
  train->add_option("--checkpoints", train_options.checkpoints,
                    "Checkpoint store, file:DIR or rocksdb:DIR (default: OUTPUT/checkpoints); a run resumes from "
                    "its latest intact checkpoint");
  train->add_option("--collective-timeout", train_options.collective_timeout_s,
                    "Seconds any collective call may wait for the other ranks (default 300)");
  train->add_option("--peak-flops", train_options.peak_flops,
                    "The device's peak FLOP/s, MFU's denominator (default: the backend's nominal figure, e.g. the "
                    "CPU's cores x clock x vector FMA width)");
  train->add_option("--error-file", train_options.error_path,
                    "On failure also write {\"code\", \"code_name\", \"message\"} JSON here");

  EvalCommandOptions eval_options;
  std::string eval_subjects;
  CLI::App* eval = app.add_subcommand("eval", "Run one benchmark suite on a model and print lm-eval's metrics");
  eval->add_option("--model", eval_options.model_dir, "Hugging Face model directory")->required();
  eval->add_option("--adapter", eval_options.adapter_dir, "PEFT LoRA adapter directory to apply");
  std::string eval_quantize_base;
  AddQuantizeBaseOption(eval, eval_quantize_base);
  eval->add_option("--suite", eval_options.suite, "mmlu | hellaswag | piqa | perplexity | task | long_context")
      ->required();
  eval->add_option("--data", eval_options.spec.data,
                   "mmlu: the dataset root (dev/, test/); hellaswag: .jsonl or the decompressed 6-line .txt; piqa: "
                   "valid.jsonl; perplexity: a text file (a wikitext file is split into pages); task: a task directory "
                   "(config.json, test.jsonl, train_0.jsonl); long_context: a text file, the haystack")
      ->required();
  eval->add_option("--labels", eval_options.spec.labels, "piqa: labels file (default: valid-labels.lst beside it)");
  eval->add_option("--split", eval_options.spec.split, "mmlu: the split to score (default test)");
  eval->add_option("--subjects", eval_subjects, "mmlu: comma-separated subjects (default: all)");
  eval->add_option("--num-fewshot", eval_options.spec.num_fewshot,
                   "mmlu: few-shot examples from dev; task: demonstrations from train_0.jsonl (default 0)");
  eval->add_option("--limit", eval_options.spec.limit, "Score only the first N items (per subject; 0: all)");
  eval->add_option("--max-length", eval_options.max_length, "Model window in tokens (default: the config's)");
  eval->add_option("--context-lengths", eval_options.spec.context_lengths,
                   "long_context: comma-separated prompt lengths in tokens, capped at the window (default 256,512)")
      ->delimiter(',');
  eval->add_option("--depths", eval_options.spec.depths,
                   "long_context: comma-separated needle depths in [0, 1] (default 0,0.25,0.5,0.75,1)")
      ->delimiter(',');
  eval->add_option("--samples", eval_options.spec.samples, "long_context: trials per (length, depth) (default 10)");
  eval->add_option("--seed", eval_options.spec.seed, "long_context: the needles' seed (default 42)");
  eval->add_flag("--json", eval_options.json, "Print one JSON object instead of the table");

  const ServeSubcommand serve = AddServeSubcommand(app);

  CLI11_PARSE(app, argc, argv);
  if (*devices) return RunDevices(json, probe);
  if (*serve.command) return serve.run();
  if (*score) {
    score_options.quantize_base = QuantizeBase(score_quantize_base);
    absl::Status status = RunScore(score_options, std::cout);
    if (!status.ok()) {
      std::cerr << "ftd-worker score: " << status.message() << "\n";
      return 1;
    }
    return 0;
  }
  if (*train) {
    // A peer rank that dies closes its sockets: a write to one must fail with EPIPE (an error naming the step and
    // the peer), not kill this rank with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    const absl::Status status = RunTrainCommand(train_options, std::cout);
    if (!status.ok()) std::cerr << "ftd-worker train: " << status.message() << "\n";
    return status.ok() ? 0 : 1;
  }
  if (*eval) {
    eval_options.quantize_base = QuantizeBase(eval_quantize_base);
    for (absl::string_view subject : absl::StrSplit(eval_subjects, ',', absl::SkipEmpty())) {
      eval_options.spec.subjects.emplace_back(subject);
    }
    const absl::Status status = RunEvalCommand(eval_options, std::cout, std::cerr);
    if (!status.ok()) std::cerr << "ftd-worker eval: " << status.message() << "\n";
    return status.ok() ? 0 : 1;
  }
  if (*generate) {
    generate_options.output = generate_json ? GenerateOutput::kJson : GenerateOutput::kText;
    generate_options.quantize_base = QuantizeBase(generate_quantize_base);
    const absl::Status status = RunGenerate(generate_options, std::cout);
    if (!status.ok()) std::cerr << "ftd-worker generate: " << status.message() << "\n";
    return status.ok() ? 0 : 1;
  }
  return 2;
}

}  // namespace ftd
