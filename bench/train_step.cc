// ftd's side of the training-step benchmark (bench/README.md): the bench config's random Llama, a LoRA adapter
// on all seven projections (over fp32 or, qlora, NF4 double-quantised projections) or full fine-tuning, and timed
// steps of forward + backward + clip + AdamW + zero grad
// on the CPU backend. Prints one JSON line with the fields train_step.py and the peer share.
//
//   build/bench/train_step --mode lora|qlora|full [--threads 2] [--warmup 3] [--steps 10]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cblas.h"
#include "absl/status/statusor.h"
#include "common/status_macros.h"
#include "kernels/kernels.h"
#include "model/hf_model.h"
#include "model/model_config.h"
#include "model/model_init.h"
#include "model/peft_adapter.h"
#include "model/training_flops.h"
#include "model/llama/llama_model.h"
#include "nlohmann/json.hpp"
#include "worker/train/adamw_optimizer.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ftd {
namespace {

constexpr int64_t kBatch = 8;
constexpr int64_t kSeq = 256;

LlamaConfig BenchConfig() {
  LlamaConfig c;
  c.hidden_size = 512;
  c.intermediate_size = 1536;
  c.num_hidden_layers = 8;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.head_dim = 64;
  c.vocab_size = 8192;
  c.max_position_embeddings = 2048;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = false;
  return c;
}

struct Options {
  std::string mode = "lora";
  int threads = 2;
  int warmup = 3;
  int steps = 10;
  bool profile = false;  // Per-op wall time of the timed steps to stderr.
};

// The op profile as a table, heaviest first: calls and milliseconds per step, share of the step.
void PrintProfile(const OpProfile& profile, int steps, double step_seconds) {
  std::vector<std::pair<std::string, OpProfile::Entry>> rows(profile.ops.begin(), profile.ops.end());
  std::sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) { return x.second.seconds > y.second.seconds; });
  double total = 0;
  for (const auto& row : rows) total += row.second.seconds;
  std::fprintf(stderr, "%-44s %8s %10s %7s\n", "op (per step)", "calls", "ms", "step%");
  for (const auto& [name, e] : rows) {
    std::fprintf(stderr, "%-44s %8.1f %10.2f %6.1f%%\n", name.c_str(), static_cast<double>(e.calls) / steps,
                 1e3 * e.seconds / steps, 100.0 * e.seconds / steps / step_seconds);
  }
  std::fprintf(stderr, "%-44s %8s %10.2f %6.1f%%\n", "all ops", "", 1e3 * total / steps,
               100.0 * total / steps / step_seconds);
}

// Resident set size now (VmRSS of /proc/self/status), bytes; 0 where unreadable.
int64_t CurrentRssBytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

absl::StatusOr<nlohmann::json> Run(const Options& options) {
  const bool lora = options.mode != "full";  // lora and qlora train the same adapter.
  LlamaLoadOptions load;
  if (options.mode == "qlora") load.quantize = Nf4Statistics::kDoubleQuant;
  const LlamaConfig config = BenchConfig();
  // The model lives only in memory: the initialised tensors are loaded through an in-memory HF model dir.
  ASSIGN_OR_RETURN(auto tensors, InitLlamaWeights(config, 0));
  char dir_template[] = "/tmp/ftd-bench-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string dir = dir_template;
  std::vector<std::pair<std::string, TensorView>> views;
  for (const auto& [name, tensor] : tensors) views.emplace_back(name, tensor.view());
  RETURN_IF_ERROR(SaveHfModel(dir, LlamaConfigToJson(config), views));
  tensors.clear();
  views.clear();
  ASSIGN_OR_RETURN(Backend * backend, GetBackend("cpu"));
  std::unique_ptr<LlamaModel> model;
  {
    ASSIGN_OR_RETURN(HfModel hf, LoadHfModel(dir));
    ASSIGN_OR_RETURN(model, LlamaModel::Load(hf, backend, load));
  }
  std::filesystem::remove_all(dir);

  int64_t lora_params = 0;
  if (lora) {
    LoraConfig lc;
    lc.r = 16;
    lc.lora_alpha = 32;
    lc.all_linear = true;
    ASSIGN_OR_RETURN(LoraAdapter adapter, InitLoraAdapter(lc, config, 0));
    for (const auto& [key, pair] : adapter.weights) {
      lora_params += static_cast<int64_t>(pair.a.data.size() + pair.b.data.size()) /
                     static_cast<int64_t>(DTypeSize(pair.a.dtype));
    }
    RETURN_IF_ERROR(model->AttachLora(adapter));
  }
  ASSIGN_OR_RETURN(LlamaGradients grads, model->NewGradients(lora ? TrainMode::kLora : TrainMode::kFull));
  AdamWOptions adamw;
  adamw.weight_decay = 0.01;
  adamw.max_grad_norm = 1.0;
  ASSIGN_OR_RETURN(AdamWOptimizer optimizer, AdamWOptimizer::Create(*model, grads, adamw));

  // Uniform random ids; labels = ids (the loss shifts them), as the peer.
  std::mt19937_64 rng(1234);
  std::vector<int32_t> ids(static_cast<size_t>(kBatch * kSeq));
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % static_cast<uint64_t>(config.vocab_size));

  std::vector<double> seconds;
  std::vector<double> losses;
  OpProfile profile;
  for (int step = 0; step < options.warmup + options.steps; ++step) {
    if (options.profile && step == options.warmup) backend->set_op_profile(&profile);
    const auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(float loss, model->ForwardBackward(ids, ids, kBatch, kSeq, &grads));
    RETURN_IF_ERROR(optimizer.Step(*model, grads, 1e-4).status());
    RETURN_IF_ERROR(grads.Zero());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (step >= options.warmup) {
      seconds.push_back(s);
      losses.push_back(loss);
    }
    std::cerr << "step " << step << (step < options.warmup ? " (warm-up)" : "") << ": loss " << loss << ", "
              << s << " s\n";
  }
  backend->set_op_profile(nullptr);
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  const double median = n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  if (options.profile) PrintProfile(profile, options.steps, median);
  const int64_t tokens = kBatch * kSeq;
  const int64_t flops = TrainingFlopsPerToken(config, lora ? lora_params : 0, !lora, kSeq);
  struct rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  nlohmann::json out = {{"impl", "ftd"},
                        {"mode", options.mode},
                        {"tokens_per_step", tokens},
                        {"step_seconds_median", median},
                        {"step_seconds_all", seconds},
                        {"tokens_per_second", tokens / median},
                        {"peak_rss_bytes", static_cast<int64_t>(usage.ru_maxrss) * 1024},
                        {"rss_bytes_after_steps", CurrentRssBytes()},
                        {"weight_bytes", model->WeightBytes()},
                        {"threads", options.threads},
                        {"flops_per_token", flops},
                        {"achieved_gflops", static_cast<double>(flops) * tokens / median / 1e9},
                        {"warmup_steps", options.warmup},
                        {"n_lora_params", lora_params},
                        {"losses", losses},
                        {"ftd_version", FTD_VERSION},
                        {"blas", "OpenBLAS"}};
  return out;
}

}  // namespace
}  // namespace ftd

int main(int argc, char** argv) {
  ftd::Options options;
  CLI::App app{"ftd training-step benchmark (bench/README.md)"};
  app.add_option("--mode", options.mode, "lora, qlora (NF4 double-quantised base) or full")
      ->check(CLI::IsMember({"lora", "qlora", "full"}));
  app.add_option("--threads", options.threads, "compute threads (OpenMP and OpenBLAS)")->check(CLI::Range(1, 256));
  app.add_option("--warmup", options.warmup, "untimed steps")->check(CLI::Range(0, 1000));
  app.add_option("--steps", options.steps, "timed steps")->check(CLI::Range(1, 1000));
  app.add_flag("--profile", options.profile, "print each op's wall time per timed step to stderr");
  CLI11_PARSE(app, argc, argv);
  // Before the first parallel region and BLAS call.
  openblas_set_num_threads(options.threads);
#if defined(_OPENMP)
  omp_set_num_threads(options.threads);
#endif
  absl::StatusOr<nlohmann::json> result = ftd::Run(options);
  if (!result.ok()) {
    std::cerr << "train_step: " << result.status() << "\n";
    return 1;
  }
  std::cout << result->dump() << "\n";
  return 0;
}
