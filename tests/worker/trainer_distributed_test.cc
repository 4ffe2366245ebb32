// Data-parallel training between real processes over Gloo on loopback (issue 5, "done when" 1): 2 ranks with one
// micro-batch each end with the same weights as 1 process accumulating the same 2 micro-batches, after 20 steps at
// lr 1e-3, for LoRA (with dropout) and for full fine-tuning. Ranks are forked children meeting through a file
// rendezvous store; rank 0 writes the result.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/hf_model.h"
#include "model/safetensors.h"
#include "tests/testing/llama_fixtures.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "worker/collective/gloo_collective.h"
#include "worker/train/trainer.h"

namespace ftd {
namespace {

void WriteDataset(const std::string& path) {
  std::ofstream out(path);
  for (int i = 0; i < 24; ++i) {
    if (i % 2 == 0) {
      out << R"({"text": "Rank tests sentence number )" << i << std::string(static_cast<size_t>(i % 4), '?') << "\"}\n";
    } else {
      out << R"({"prompt": "Q: )" << i << R"( times two?", "completion": " A: )" << 2 * i << "\"}\n";
    }
  }
}

TrainConfig Config(const std::string& data, TrainMethod method, int64_t accumulation) {
  TrainConfig c;
  c.base_model = FixturePath("model_io/tiny_llama");
  c.datasets = {{data, RecordFormat::kAuto}};
  c.method = method;
  c.lora.r = 4;
  c.lora.lora_alpha = 8;
  c.lora.all_linear = true;
  c.lora.lora_dropout = 0.1;
  c.sequence_len = 32;
  c.micro_batch_size = 2;
  c.gradient_accumulation_steps = accumulation;
  c.max_steps = 20;
  c.learning_rate = 1e-3;
  c.lr_scheduler = LrSchedule::kConstant;
  c.seed = 11;
  return c;
}

// Trains `config` as `world` forked ranks (world 1 included, for symmetry); rank 0 writes to out_dir.
void TrainRanks(TrainConfig config, int world, const std::string& store_dir, const std::string& out_dir) {
  config.world_size = world;
  std::vector<pid_t> pids;
  for (int rank = 0; rank < world; ++rank) {
    pids.push_back(Spawn([&, rank]() -> int {
      absl::StatusOr<std::unique_ptr<RendezvousStore>> store = OpenRendezvousStore("file:" + store_dir);
      if (!store.ok()) return 90;
      GlooOptions gloo;
      gloo.rank = rank;
      gloo.world_size = world;
      gloo.prefix = "train/";
      gloo.connect_timeout = absl::Seconds(30);
      absl::StatusOr<std::unique_ptr<Collective>> collective = ConnectGloo(gloo, **store);
      if (!collective.ok()) return 91;
      TrainRunOptions options;
      options.output_dir = out_dir;
      options.backend = *GetBackend("cpu");
      options.collective = collective->get();
      options.collective_timeout = absl::Seconds(30);
      absl::StatusOr<TrainSummary> summary = RunTraining(config, options);
      if (!summary.ok()) std::fprintf(stderr, "rank %d: %s\n", rank, summary.status().ToString().c_str());
      return summary.ok() ? 0 : 92;
    }));
  }
  for (int rank = 0; rank < world; ++rank) EXPECT_EQ(ExitCode(pids[rank]), 0) << "rank " << rank;
}

// Every tensor of a safetensors-backed directory (adapter or model) as fp32, by name.
std::map<std::string, std::vector<float>> Tensors(const std::string& file) {
  std::map<std::string, std::vector<float>> out;
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> st = SafetensorsFile::Open(file);
  EXPECT_TRUE(st.ok()) << st.status();
  if (!st.ok()) return out;
  for (const std::string& name : (*st)->names()) out[name] = *ToF32(*(*st)->Get(name));
  return out;
}

void ExpectSameWeights(const std::string& one, const std::string& two, const std::string& base) {
  const auto a = Tensors(one), b = Tensors(two);
  const auto init = base.empty() ? decltype(a)() : Tensors(base);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  double max_diff = 0, max_moved = 0;
  for (const auto& [name, x] : a) {
    const std::vector<float>& y = b.at(name);
    ASSERT_EQ(x.size(), y.size()) << name;
    for (size_t i = 0; i < x.size(); ++i) {
      max_diff = std::max<double>(max_diff, std::abs(x[i] - y[i]));
      // How far training moved the weights: from the base model (full), or from 0 for LoRA's B (A starts random).
      if (!init.empty()) {
        max_moved = std::max<double>(max_moved, std::abs(x[i] - init.at(name)[i]));
      } else if (name.find("lora_B") != std::string::npos) {
        max_moved = std::max<double>(max_moved, std::abs(x[i]));
      }
    }
  }
  std::printf("max |1 rank - 2 ranks| = %.3g, max |moved| = %.3g\n", max_diff, max_moved);
  EXPECT_LT(max_diff, 1e-5);
  EXPECT_GE(max_moved, 100 * 1e-5);
}

TEST(TrainerDistributedTest, TwoRanksEqualOneProcessWithTheSameGlobalBatch) {
  for (TrainMethod method : {TrainMethod::kLora, TrainMethod::kFull}) {
    TempDir tmp;
    WriteDataset(tmp.file("data.jsonl"));
    TrainRanks(Config(tmp.file("data.jsonl"), method, /*accumulation=*/2), 1, tmp.file("store1"), tmp.file("one"));
    TrainRanks(Config(tmp.file("data.jsonl"), method, /*accumulation=*/1), 2, tmp.file("store2"), tmp.file("two"));
    if (method == TrainMethod::kLora) {
      ExpectSameWeights(tmp.file("one/adapter_model.safetensors"), tmp.file("two/adapter_model.safetensors"), "");
    } else {
      ExpectSameWeights(tmp.file("one/model.safetensors"), tmp.file("two/model.safetensors"),
                        FixturePath("model_io/tiny_llama/model.safetensors"));
    }
  }
}

}  // namespace
}  // namespace ftd
