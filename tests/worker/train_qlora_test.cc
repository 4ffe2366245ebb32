// `ftd-worker train` with method qlora, 50 steps on the tiny_llama fixture, against three other runs of the same
// job: LoRA on the fp32 base (the curves printed side by side: what 4-bit weights cost), LoRA on a base whose
// projections are the NF4 round trip of the original (equal step for step, and the same adapter), and QLoRA on
// the bitsandbytes 4-bit directory transformers wrote for the same model (tests/fixtures/quant: equal too, since
// its codes are ours).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/hf_model.h"
#include "model/quant/nf4.h"
#include "model/safetensors.h"
#include "nlohmann/json.hpp"
#include "tests/testing/nf4_dequantised.h"
#include "tests/testing/temp_dir.h"
#include "worker/train_command.h"

namespace ftd {
namespace {

const std::string kFixtures = std::string(FTD_SOURCE_DIR) + "/tests/fixtures";
constexpr int kSteps = 50;

struct TrainRun {
  std::vector<double> losses;  // Per step.
  std::string output;          // The adapter's directory.
};

class TrainQloraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Short sentences over tiny_llama's byte-level vocabulary, enough for 50 steps of 4 rows to keep learning.
    std::ofstream data(tmp_.file("data.jsonl"));
    const char* words[] = {"red", "blue", "green", "cat", "dog", "runs", "sleeps", "fast", "slow", "big"};
    for (int i = 0; i < 40; ++i) {
      data << "{\"text\": \"the " << words[i % 10] << " " << words[(i * 3 + 1) % 10] << " " << words[(i * 7 + 2) % 10]
           << " and the " << words[(i + 5) % 10] << "\"}\n";
    }
  }

  // Trains `base` with `method` (plus `extra` YAML) for kSteps steps; the step losses from train_log.jsonl.
  TrainRun Train(const std::string& label, const std::string& base, const std::string& method,
            const std::string& extra = "") {
    TrainRun run;
    run.output = tmp_.file(label);
    const std::string config = tmp_.file(label + ".yaml");
    std::ofstream(config) << "base_model: " << base << "\nmethod: " << method << "\ndatasets:\n  - path: "
                          << tmp_.file("data.jsonl") << "\nlora_target_modules: all-linear\nlora_r: 4\n"
                          << "lora_alpha: 8\nmicro_batch_size: 4\nsequence_len: 32\nmax_steps: " << kSteps
                          << "\nlearning_rate: 3e-3\nlr_scheduler: constant\nseed: 7\n"
                          << extra;
    TrainCommandOptions options;
    options.config_path = config;
    options.output_dir = run.output;
    std::ostringstream out;
    const absl::Status status = RunTrainCommand(options, out);
    EXPECT_TRUE(status.ok()) << label << ": " << status << "\n" << out.str();
    std::ifstream log(run.output + "/train_log.jsonl");
    for (std::string line; std::getline(log, line);) {
      run.losses.push_back(nlohmann::json::parse(line).at("loss").get<double>());
    }
    EXPECT_EQ(run.losses.size(), static_cast<size_t>(kSteps)) << label << "\n" << out.str();
    return run;
  }

  TempDir tmp_;
};

// The largest |a - b| over two adapters' tensors (same names required).
double AdapterDiff(const std::string& a_dir, const std::string& b_dir) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> a = SafetensorsFile::Open(a_dir + "/adapter_model.safetensors");
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> b = SafetensorsFile::Open(b_dir + "/adapter_model.safetensors");
  EXPECT_TRUE(a.ok() && b.ok());
  if (!a.ok() || !b.ok()) return INFINITY;
  EXPECT_EQ((*a)->names(), (*b)->names());
  double worst = 0;
  for (const std::string& name : (*a)->names()) {
    const std::vector<float> x = *ToF32(*(*a)->Get(name));
    const std::vector<float> y = *ToF32(*(*b)->Get(name));
    EXPECT_EQ(x.size(), y.size()) << name;
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) worst = std::max(worst, std::fabs(double(x[i]) - y[i]));
  }
  return worst;
}

double MaxStepDiff(const TrainRun& a, const TrainRun& b) {
  double worst = 0;
  for (size_t i = 0; i < std::min(a.losses.size(), b.losses.size()); ++i) {
    worst = std::max(worst, std::fabs(a.losses[i] - b.losses[i]));
  }
  return worst;
}

TEST_F(TrainQloraTest, FiftyStepsBesideLoraAndEqualToLoraOnTheDequantisedBase) {
  const std::string base = kFixtures + "/model_io/tiny_llama";
  absl::StatusOr<HfModel> hf = LoadHfModel(base);
  ASSERT_TRUE(hf.ok()) << hf.status();
  WriteNf4DequantisedModel(*hf, Nf4Statistics::kDoubleQuant, tmp_.file("dequantised"));

  const TrainRun lora = Train("lora", base, "lora");
  const TrainRun qlora = Train("qlora", base, "qlora");  // bnb_4bit_use_double_quant defaults to true.
  const TrainRun twin = Train("twin", tmp_.file("dequantised"), "lora");
  ASSERT_EQ(qlora.losses.size(), static_cast<size_t>(kSteps));
  ASSERT_EQ(lora.losses.size(), static_cast<size_t>(kSteps));
  ASSERT_EQ(twin.losses.size(), static_cast<size_t>(kSteps));

  std::printf("step  lora (fp32 base)  qlora (NF4 base, double quant)  lora on dequantised NF4\n");
  for (int i = 0; i < kSteps; ++i) {
    std::printf("%4d  %16.6f  %30.6f  %23.6f\n", i + 1, lora.losses[i], qlora.losses[i], twin.losses[i]);
  }
  const double step_diff = MaxStepDiff(qlora, twin);
  const double adapter_diff = AdapterDiff(qlora.output, twin.output);
  std::printf("qlora vs lora on the dequantised base: max |loss diff| %.3g over %d steps, adapters max |diff| %.3g\n",
              step_diff, kSteps, adapter_diff);
  EXPECT_LE(step_diff, 1e-5);
  EXPECT_LE(adapter_diff, 1e-5);
  EXPECT_EQ(qlora.losses[0], twin.losses[0]);  // The first step's loss: the same computation exactly.

  // Both learn; quantisation moves the curve but not by much on this model.
  const auto mean_last = [](const TrainRun& r) {
    double sum = 0;
    for (int i = kSteps - 5; i < kSteps; ++i) sum += r.losses[i];
    return sum / 5;
  };
  EXPECT_LT(mean_last(qlora), 0.8 * qlora.losses[0]);
  EXPECT_LT(mean_last(lora), 0.8 * lora.losses[0]);
  EXPECT_NE(qlora.losses[0], lora.losses[0]) << "the NF4 base should not score exactly as the fp32 one";
  EXPECT_LT(std::fabs(mean_last(qlora) - mean_last(lora)), 0.1 * mean_last(lora));
}

TEST_F(TrainQloraTest, APreQuantisedBaseTrainsAsQuantisingAtLoad) {
  // transformers' bitsandbytes 4-bit save of tiny_llama (double quant), with tiny_llama's tokenizer beside it.
  const std::string quantised = tmp_.file("tiny_llama_nf4_dq");
  std::filesystem::copy(kFixtures + "/quant/tiny_llama_nf4_dq", quantised);
  ASSERT_TRUE(CopyTokenizerFiles(kFixtures + "/model_io/tiny_llama", quantised).ok());

  const TrainRun at_load = Train("at_load", kFixtures + "/model_io/tiny_llama", "qlora");
  const TrainRun stored = Train("stored", quantised, "qlora");
  EXPECT_EQ(at_load.losses, stored.losses);
  EXPECT_EQ(AdapterDiff(at_load.output, stored.output), 0.0);

  // Only qlora trains on a quantised base; the refusal names the way out.
  std::ofstream(tmp_.file("full.yaml")) << "base_model: " << quantised << "\nmethod: full\ndatasets:\n  - path: "
                                        << tmp_.file("data.jsonl") << "\nmax_steps: 1\n";
  TrainCommandOptions options;
  options.config_path = tmp_.file("full.yaml");
  options.output_dir = tmp_.file("full");
  std::ostringstream out;
  const absl::Status status = RunTrainCommand(options, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("is NF4-quantised"), std::string::npos) << status;
  EXPECT_NE(status.message().find("use method qlora"), std::string::npos) << status;
}

}  // namespace
}  // namespace ftd
