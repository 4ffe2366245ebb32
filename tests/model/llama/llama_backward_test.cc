// The Llama training step against PEFT / torch: loss and every gradient of one forward + backward on
// gen_training.py's batch, for tiny_llama (untied) and tiny_qwen2 (q/k/v bias, tied embeddings), with a LoRA
// adapter on all seven projections (lora_init/) and with every weight trainable. Gradients are compared per
// tensor by ||ours - ref|| / ||ref|| < 1e-3, the loss to 1e-4.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/llama/llama_model.h"
#include "model/peft_adapter.h"
#include "model/safetensors.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  return nlohmann::json::parse(in);
}

// Compares every tensor of `ref_path` with the gradient of the same name; returns the worst relative error.
double CompareGrads(const LlamaGradients& grads, const std::string& ref_path, const std::string& label) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> ref = SafetensorsFile::Open(ref_path);
  EXPECT_TRUE(ref.ok()) << ref.status();
  if (!ref.ok()) return INFINITY;
  EXPECT_EQ(grads.names(), (*ref)->names()) << label << ": the trainable tensors differ from the reference's";
  double worst = 0;
  std::string worst_name;
  for (const std::string& name : (*ref)->names()) {
    absl::StatusOr<std::vector<float>> ref_values = ToF32(*(*ref)->Get(name));
    absl::StatusOr<std::vector<float>> ours = grads.ToHost(name);
    EXPECT_TRUE(ref_values.ok() && ours.ok()) << name;
    if (!ref_values.ok() || !ours.ok()) continue;
    EXPECT_EQ(ours->size(), ref_values->size()) << name;
    if (ours->size() != ref_values->size()) continue;
    double diff = 0, norm = 0;
    for (size_t i = 0; i < ours->size(); ++i) {
      const double r = (*ref_values)[i];
      diff += ((*ours)[i] - r) * ((*ours)[i] - r);
      norm += r * r;
    }
    const double rel = std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
    EXPECT_LT(rel, 1e-3) << label << " " << name << " (||ref|| " << std::sqrt(norm) << ")";
    EXPECT_GT(norm, 0) << label << " " << name << ": reference gradient is zero";
    if (rel > worst) {
      worst = rel;
      worst_name = name;
    }
  }
  std::printf("%s: %zu gradients, worst relative error %.3g (%s)\n", label.c_str(), (*ref)->names().size(), worst,
              worst_name.c_str());
  return worst;
}

class LlamaBackwardTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaBackwardTest, LoraGradientsMatchPeft) {
  const std::string model = GetParam();
  const std::string dir = FixturePath("training/" + model);
  std::unique_ptr<LlamaModel> llama = LoadFixtureModel(model);
  ASSERT_NE(llama, nullptr);
  absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(dir + "/lora_init");
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  ASSERT_TRUE(llama->AttachLora(*adapter).ok());
  absl::StatusOr<LlamaGradients> grads = llama->NewGradients(TrainMode::kLora);
  ASSERT_TRUE(grads.ok()) << grads.status();
  const TrainingBatch batch = ReadTrainingBatch(model);
  absl::StatusOr<float> loss = llama->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*grads);
  ASSERT_TRUE(loss.ok()) << loss.status();
  const double ref_loss = ReadJson(dir + "/lora_loss.json")["loss"];
  std::printf("%s lora: loss %.7f, PEFT %.7f\n", model.c_str(), *loss, ref_loss);
  EXPECT_NEAR(*loss, ref_loss, 1e-4);
  CompareGrads(*grads, dir + "/lora_grads.safetensors", model + " lora");
}

TEST_P(LlamaBackwardTest, FullGradientsMatchTorch) {
  const std::string model = GetParam();
  const std::string dir = FixturePath("training/" + model);
  std::unique_ptr<LlamaModel> llama = LoadFixtureModel(model);
  ASSERT_NE(llama, nullptr);
  absl::StatusOr<LlamaGradients> grads = llama->NewGradients(TrainMode::kFull);
  ASSERT_TRUE(grads.ok()) << grads.status();
  const TrainingBatch batch = ReadTrainingBatch(model);
  absl::StatusOr<float> loss = llama->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*grads);
  ASSERT_TRUE(loss.ok()) << loss.status();
  const double ref_loss = ReadJson(dir + "/full_loss.json")["loss"];
  std::printf("%s full: loss %.7f, torch %.7f\n", model.c_str(), *loss, ref_loss);
  EXPECT_NEAR(*loss, ref_loss, 1e-4);
  CompareGrads(*grads, dir + "/full_grads.safetensors", model + " full");
}

// Parameter gradients accumulate over micro-batches: two steps on the same batch give twice one step's.
TEST_P(LlamaBackwardTest, GradientsAccumulateAcrossSteps) {
  const std::string model = GetParam();
  std::unique_ptr<LlamaModel> llama = LoadFixtureModel(model);
  ASSERT_NE(llama, nullptr);
  absl::StatusOr<LlamaGradients> grads = llama->NewGradients(TrainMode::kFull);
  ASSERT_TRUE(grads.ok()) << grads.status();
  const TrainingBatch batch = ReadTrainingBatch(model);
  ASSERT_TRUE(llama->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*grads).ok());
  const std::vector<float> once = *grads->ToHost("model.norm.weight");
  ASSERT_TRUE(llama->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*grads).ok());
  const std::vector<float> twice = *grads->ToHost("model.norm.weight");
  for (size_t i = 0; i < once.size(); ++i) EXPECT_NEAR(twice[i], 2 * once[i], 1e-6) << i;
  ASSERT_TRUE(grads->Zero().ok());
  EXPECT_EQ(*grads->ToHost("model.norm.weight"), std::vector<float>(once.size(), 0.0f));
}

INSTANTIATE_TEST_SUITE_P(TinyModels, LlamaBackwardTest, ::testing::Values("tiny_llama", "tiny_qwen2"));

// Full fine-tuning with an adapter attached (the adapter frozen): the forward equals the merged model's, so every
// base gradient equals the merged model's gradient of the same tensor (W's is that of W + scale * B @ A). This
// checks that a frozen adapter still passes its input gradient. tiny_llama only: it is fp32, so the merge
// does not round.
TEST(LlamaBackwardTest, FrozenAdapterGradientsEqualTheMergedModels) {
  const std::string base_dir = FixturePath("model_io/tiny_llama");
  const std::string adapter_dir = FixturePath("training/tiny_llama/lora_init");
  TempDir tmp("ftd_llama_backward");
  const std::string merged_dir = tmp.file("merged");
  ASSERT_TRUE(MergeLoraAdapter(base_dir, adapter_dir, merged_dir).ok());
  std::unique_ptr<LlamaModel> merged = LoadCpuModel(merged_dir);
  ASSERT_NE(merged, nullptr);
  std::unique_ptr<LlamaModel> adapted = LoadFixtureModel("tiny_llama");
  ASSERT_NE(adapted, nullptr);
  absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(adapter_dir);
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  ASSERT_TRUE(adapted->AttachLora(*adapter).ok());

  const TrainingBatch batch = ReadTrainingBatch("tiny_llama");
  absl::StatusOr<LlamaGradients> ours = adapted->NewGradients(TrainMode::kFull);
  absl::StatusOr<LlamaGradients> ref = merged->NewGradients(TrainMode::kFull);
  ASSERT_TRUE(ours.ok() && ref.ok());
  absl::StatusOr<float> loss = adapted->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*ours);
  absl::StatusOr<float> ref_loss = merged->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*ref);
  ASSERT_TRUE(loss.ok() && ref_loss.ok());
  EXPECT_NEAR(*loss, *ref_loss, 1e-5);
  double worst = 0;
  for (const std::string& name : ref->names()) {
    const std::vector<float> a = *ours->ToHost(name), b = *ref->ToHost(name);
    double diff = 0, norm = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      diff += (a[i] - b[i]) * (a[i] - b[i]);
      norm += static_cast<double>(b[i]) * b[i];
    }
    const double rel = std::sqrt(diff / norm);
    EXPECT_LT(rel, 1e-4) << name;
    worst = std::max(worst, rel);
  }
  std::printf("tiny_llama frozen adapter vs merged: %zu gradients, worst relative error %.3g\n", ref->names().size(),
              worst);
}

TEST(LlamaBackwardTest, RejectsBadInputs) {
  std::unique_ptr<LlamaModel> llama = LoadFixtureModel("tiny_llama");
  ASSERT_NE(llama, nullptr);
  EXPECT_EQ(llama->NewGradients(TrainMode::kLora).status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<LlamaGradients> grads = llama->NewGradients(TrainMode::kFull);
  ASSERT_TRUE(grads.ok());
  EXPECT_EQ(llama->ForwardBackward({1, 2, 3, 4}, {1, 2, 3}, 2, 2, &*grads).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(llama->ForwardBackward({1, 2, 3, 4}, {1, -100, 3, -100}, 2, 2, &*grads).status().message(),
            "forward_backward: every label is ignored (HF's loss would be NaN)");
  EXPECT_EQ(llama->ForwardBackward({1, 2, 3, 4}, {1, 2, 3, 100000}, 2, 2, &*grads).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ftd
