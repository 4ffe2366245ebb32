// The Llama forward pass against transformers: logits of tiny_llama (fp32, llama3 RoPE scaling, untied) and
// tiny_qwen2 (bf16 weights upcast, q/k/v bias, tied embeddings) on gen_training.py's batch, max abs error
// < 1e-4 (the bound for fp32).
#include "model/llama/llama_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/safetensors.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

const std::string kFixtures = std::string(FTD_SOURCE_DIR) + "/tests/fixtures";

class LlamaForwardTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaForwardTest, LogitsMatchTransformers) {
  const std::string model = GetParam();
  absl::StatusOr<HfModel> hf = LoadHfModel(kFixtures + "/model_io/" + model);
  ASSERT_TRUE(hf.ok()) << hf.status();
  absl::StatusOr<Backend*> cpu = GetBackend("cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  absl::StatusOr<std::unique_ptr<LlamaModel>> llama = LlamaModel::Load(*hf, *cpu);
  ASSERT_TRUE(llama.ok()) << llama.status();

  std::ifstream in(kFixtures + "/training/" + model + "/batch.json");
  ASSERT_TRUE(in);
  const nlohmann::json batch = nlohmann::json::parse(in);
  const int64_t B = batch["B"], T = batch["T"];
  std::vector<int32_t> ids;
  for (const auto& row : batch["input_ids"]) {
    for (const auto& id : row) ids.push_back(id.get<int32_t>());
  }
  absl::StatusOr<std::vector<float>> logits = (*llama)->Forward(ids, B, T);
  ASSERT_TRUE(logits.ok()) << logits.status();

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> ref_file =
      SafetensorsFile::Open(kFixtures + "/training/" + model + "/logits.safetensors");
  ASSERT_TRUE(ref_file.ok()) << ref_file.status();
  absl::StatusOr<TensorView> ref_view = (*ref_file)->Get("logits");
  ASSERT_TRUE(ref_view.ok()) << ref_view.status();
  absl::StatusOr<std::vector<float>> ref = ToF32(*ref_view);
  ASSERT_TRUE(ref.ok());
  ASSERT_EQ(logits->size(), ref->size());
  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < ref->size(); ++i) {
    max_err = std::max(max_err, static_cast<double>(std::fabs((*logits)[i] - (*ref)[i])));
    max_ref = std::max(max_ref, static_cast<double>(std::fabs((*ref)[i])));
  }
  std::printf("%s: max |logits - transformers| = %.3g (max |logit| %.3g)\n", model.c_str(), max_err, max_ref);
  EXPECT_LT(max_err, 1e-4) << model << ": max |logits - transformers| (max |ref| " << max_ref << ")";
  EXPECT_GT(max_ref, 0.1) << "reference logits look degenerate";
}

INSTANTIATE_TEST_SUITE_P(TinyModels, LlamaForwardTest, ::testing::Values("tiny_llama", "tiny_qwen2"));

TEST(LlamaForwardTest, RejectsAMismatchedBatch) {
  absl::StatusOr<HfModel> hf = LoadHfModel(kFixtures + "/model_io/tiny_llama");
  ASSERT_TRUE(hf.ok()) << hf.status();
  absl::StatusOr<std::unique_ptr<LlamaModel>> llama = LlamaModel::Load(*hf, *GetBackend("cpu"));
  ASSERT_TRUE(llama.ok()) << llama.status();
  EXPECT_EQ((*llama)->Forward({1, 2, 3}, 2, 2).status().message(), "forward: 3 ids for batch 2 x seq 2");
}

}  // namespace
}  // namespace ftd
