// Random model initialisation: statistics of normal(0, initializer_range), ones/zeros for norms/biases,
// determinism per seed, and the written directory loading back.
#include "model/model_init.h"

#include <cmath>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "model/hf_model.h"

namespace ftd {
namespace {

namespace fs = std::filesystem;

LlamaConfig SmallConfig() {
  LlamaConfig c;
  c.model_type = "qwen2";
  c.architecture = "Qwen2ForCausalLM";
  c.qkv_bias = true;
  c.hidden_size = 64;
  c.intermediate_size = 160;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.vocab_size = 300;
  c.initializer_range = 0.02;
  return c;
}

TEST(ModelInitTest, StatisticsAndKinds) {
  absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> weights = InitLlamaWeights(SmallConfig(), 1);
  ASSERT_TRUE(weights.ok()) << weights.status();
  ASSERT_EQ(weights->size(), LlamaTensorSpecs(SmallConfig()).size());
  double sum = 0, sum_sq = 0;
  int64_t n = 0;
  for (const auto& [name, tensor] : *weights) {
    std::vector<float> v = *ToF32(tensor.view());
    if (name.ends_with("layernorm.weight") || name == "model.norm.weight") {
      for (float x : v) ASSERT_EQ(x, 1.0f) << name;
    } else if (name.ends_with(".bias")) {
      for (float x : v) ASSERT_EQ(x, 0.0f) << name;
    } else {
      for (float x : v) {
        sum += x;
        sum_sq += static_cast<double>(x) * x;
        ++n;
      }
    }
  }
  const double mean = sum / n;
  const double std = std::sqrt(sum_sq / n - mean * mean);
  EXPECT_GT(n, 100000);
  // Standard error of the mean is 0.02 / sqrt(n) ~ 5e-5: 5e-4 is 10 standard errors.
  EXPECT_NEAR(mean, 0.0, 5e-4);
  EXPECT_NEAR(std, 0.02, 2e-4);
}

TEST(ModelInitTest, DeterministicPerSeed) {
  auto a = InitLlamaWeights(SmallConfig(), 42);
  auto b = InitLlamaWeights(SmallConfig(), 42);
  auto c = InitLlamaWeights(SmallConfig(), 43);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ((*a)[0].second.data, (*b)[0].second.data);
  EXPECT_EQ((*a)[5].second.data, (*b)[5].second.data);
  EXPECT_NE((*a)[0].second.data, (*c)[0].second.data);
}

TEST(ModelInitTest, WritesLoadableDirInConfigDType) {
  TempDir tmp_dir("ftd_init");
  const std::string tmp = tmp_dir.path();
  LlamaConfig config = SmallConfig();
  config.dtype = DType::kBF16;
  ASSERT_TRUE(WriteStringToFile(tmp + "/in_config.json", LlamaConfigToJson(config)).ok());
  const std::string tokenizer_dir = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io/tiny_llama";
  const bool have_tokenizer = fs::exists(tokenizer_dir + "/tokenizer.json");
  absl::Status status = InitRandomModel({tmp + "/in_config.json", have_tokenizer ? tokenizer_dir : "", 3, tmp + "/out"});
  ASSERT_TRUE(status.ok()) << status;
  absl::StatusOr<HfModel> model = LoadHfModel(tmp + "/out");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->config.model_type, "qwen2");
  EXPECT_EQ(model->weights->Get("model.embed_tokens.weight")->dtype, DType::kBF16);
  EXPECT_TRUE(model->weights->contains("model.layers.1.self_attn.k_proj.bias"));
  EXPECT_EQ(fs::exists(tmp + "/out/tokenizer.json"), have_tokenizer);
}

}  // namespace
}  // namespace ftd
