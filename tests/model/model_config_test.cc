// config.json parsing for the Llama family: real-model-like configs (Llama-3.2-1B, Mistral-7B, Qwen2.5-0.5B,
// SmolLM2-135M) in the transformers 4 and 5 layouts, ToJson round trips, parameter counts and refusals.
#include "model/model_config.h"

#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace ftd {
namespace {

constexpr char kLlama32_1B[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256})";

constexpr char kMistral7B[] = R"({
  "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0,
  "sliding_window": null, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.42.0.dev0", "use_cache": true, "vocab_size": 32768})";

constexpr char kQwen25_05B[] = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": true,
  "use_sliding_window": false, "vocab_size": 151936})";

constexpr char kSmolLM2_135M[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 576,
  "initializer_range": 0.041666666666666664, "intermediate_size": 1536, "is_llama_config": true,
  "max_position_embeddings": 8192, "mlp_bias": false, "model_type": "llama", "num_attention_heads": 9,
  "num_hidden_layers": 30, "num_key_value_heads": 3, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_interleaved": false, "rope_scaling": null, "rope_theta": 100000, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "transformers_version": "4.42.3", "use_cache": true, "vocab_size": 49152})";

// Llama-3.2-1B as transformers 5 writes it: `dtype`, rope_theta inside `rope_parameters`, eos as a list.
constexpr char kLlama32_1B_V5[] = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
  "head_dim": 64, "hidden_size": 2048, "intermediate_size": 8192, "max_position_embeddings": 131072,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "dtype": "bfloat16", "tie_word_embeddings": true, "vocab_size": 128256,
  "rope_parameters": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                      "original_max_position_embeddings": 8192, "rope_theta": 500000.0, "rope_type": "llama3"}})";

TEST(ModelConfigTest, Llama32_1B) {
  absl::StatusOr<LlamaConfig> c = ParseLlamaConfig(kLlama32_1B);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->hidden_size, 2048);
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->kv_dim(), 512);
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 32.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->dtype, DType::kBF16);
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{128001});
  EXPECT_FALSE(c->qkv_bias);
  // Llama-3.2-1B has 1,235,814,400 parameters (tied embeddings).
  const ParameterCounts p = CountParameters(*c);
  EXPECT_EQ(p.total(), 1235814400);
  EXPECT_EQ(p.lm_head, 0);
  EXPECT_EQ(p.embed, 128256 * 2048);
}

TEST(ModelConfigTest, NewLayoutMatchesOldLayout) {
  absl::StatusOr<LlamaConfig> old_layout = ParseLlamaConfig(kLlama32_1B);
  absl::StatusOr<LlamaConfig> new_layout = ParseLlamaConfig(kLlama32_1B_V5);
  ASSERT_TRUE(old_layout.ok() && new_layout.ok()) << new_layout.status();
  EXPECT_DOUBLE_EQ(new_layout->rope_theta, 500000.0);
  EXPECT_EQ(new_layout->rope_scaling.type, RopeScalingType::kLlama3);
  EXPECT_DOUBLE_EQ(new_layout->rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(new_layout->dtype, DType::kBF16);
  EXPECT_EQ(new_layout->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(CountParameters(*new_layout).total(), CountParameters(*old_layout).total());
}

TEST(ModelConfigTest, Mistral7B) {
  absl::StatusOr<LlamaConfig> c = ParseLlamaConfig(kMistral7B);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "mistral");
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kNone);
  EXPECT_FALSE(c->tie_word_embeddings);
  // Mistral-7B-v0.3: 7,248,023,552 parameters.
  EXPECT_EQ(CountParameters(*c).total(), 7248023552);
}

TEST(ModelConfigTest, Qwen25HasQkvBias) {
  absl::StatusOr<LlamaConfig> c = ParseLlamaConfig(kQwen25_05B);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_FALSE(c->o_proj_bias);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  // Qwen2.5-0.5B: 494,032,768 parameters.
  EXPECT_EQ(CountParameters(*c).total(), 494032768);
}

TEST(ModelConfigTest, SmolLM2IsLlama) {
  absl::StatusOr<LlamaConfig> c = ParseLlamaConfig(kSmolLM2_135M);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_DOUBLE_EQ(c->rope_theta, 100000.0);  // An integer in the file.
  EXPECT_NEAR(c->initializer_range, 1.0 / 24, 1e-12);
  // SmolLM2-135M: 134,515,008 parameters.
  EXPECT_EQ(CountParameters(*c).total(), 134515008);
}

TEST(ModelConfigTest, ToJsonRoundTrips) {
  for (const char* text : {kLlama32_1B, kMistral7B, kQwen25_05B, kSmolLM2_135M, kLlama32_1B_V5}) {
    absl::StatusOr<LlamaConfig> c = ParseLlamaConfig(text);
    ASSERT_TRUE(c.ok()) << c.status();
    const std::string json = LlamaConfigToJson(*c);
    absl::StatusOr<LlamaConfig> again = ParseLlamaConfig(json);
    ASSERT_TRUE(again.ok()) << again.status() << "\n" << json;
    EXPECT_EQ(LlamaConfigToJson(*again), json);
    EXPECT_EQ(again->architecture, c->architecture);
    EXPECT_EQ(again->qkv_bias, c->qkv_bias);
    EXPECT_EQ(again->rope_scaling.type, c->rope_scaling.type);
    EXPECT_EQ(again->eos_token_ids, c->eos_token_ids);
    EXPECT_EQ(CountParameters(*again).total(), CountParameters(*c).total());
  }
}

TEST(ModelConfigTest, LlamaAttentionBiasKey) {
  absl::StatusOr<LlamaConfig> c = ParseLlamaConfig(
      R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
          "num_attention_heads": 4, "vocab_size": 100, "attention_bias": true, "mlp_bias": true})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");  // From model_type when `architectures` is absent.
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_TRUE(c->o_proj_bias);
  EXPECT_TRUE(c->mlp_bias);
  EXPECT_EQ(c->num_key_value_heads, 4);  // Defaults to the head count.
  EXPECT_EQ(c->dtype, DType::kF32);
  const ParameterCounts p = CountParameters(*c);
  EXPECT_EQ(p.attention, 2 * (4 * 64 * 64 + 4 * 64));
  EXPECT_EQ(p.mlp, 2 * (3 * 64 * 128 + 2 * 128 + 64));
  EXPECT_EQ(p.lm_head, 100 * 64);
}

TEST(ModelConfigTest, FixtureTinyLlamaBothLayouts) {
  const std::string dir = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io/tiny_llama";
  if (!std::filesystem::exists(dir + "/config_v4_layout.json")) GTEST_SKIP() << dir << " is absent";
  absl::StatusOr<LlamaConfig> v5 = LoadLlamaConfig(dir);
  absl::StatusOr<LlamaConfig> v4 = LoadLlamaConfig(dir + "/config_v4_layout.json");
  ASSERT_TRUE(v5.ok()) << v5.status();
  ASSERT_TRUE(v4.ok()) << v4.status();
  for (const LlamaConfig* c : {&*v4, &*v5}) {
    EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kLlama3);
    EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
    EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 64);
    EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
    EXPECT_EQ(c->dtype, DType::kF32);
    EXPECT_EQ(c->head_dim, 8);
    EXPECT_FALSE(c->pad_token_id.has_value());
  }
}

TEST(ModelConfigTest, Errors) {
  struct Case {
    std::string json;
    std::string message;
  };
  const std::string dims =
      R"("hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 10)";
  const Case cases[] = {
      {R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})",
       "architecture \"GPT2LMHeadModel\" is not supported (supported: LlamaForCausalLM, MistralForCausalLM, "
       "Qwen2ForCausalLM)"},
      {R"({"model_type": "gemma", )" + dims + "}", "(model_type gemma)\" is not supported"},
      {R"({"model_type": "llama", "rope_scaling": {"type": "dynamic", "factor": 2.0}, )" + dims + "}",
       "rope_scaling: rope type \"dynamic\" is not supported (supported: default, linear, llama3)"},
      {R"({"model_type": "qwen2", "rope_parameters": {"rope_type": "yarn", "factor": 4.0}, )" + dims + "}",
       "rope_parameters: rope type \"yarn\" is not supported"},
      {R"({"model_type": "mistral", "sliding_window": 4096, )" + dims + "}",
       "sliding_window: 4096 is not supported: sliding-window attention is not implemented"},
      {R"({"model_type": "qwen2", "use_sliding_window": true, )" + dims + "}", "use_sliding_window"},
      {R"({"model_type": "llama", "hidden_act": "gelu", )" + dims + "}", "hidden_act: \"gelu\" is not supported"},
      {R"({"model_type": "llama", "hidden_size": 64})", "intermediate_size: required key is missing"},
      {R"({"model_type": "llama", "num_key_value_heads": 3, )" + dims + "}", "num_key_value_heads: 3 does not divide"},
      {R"({"model_type": "llama", "torch_dtype": "float8", )" + dims + "}", "torch_dtype: torch dtype \"float8\""},
      {R"({"model_type": "llama", "eos_token_id": "x", )" + dims + "}", "eos_token_id"},
      {R"({"architectures": ["LlamaForCausalLM"], "model_type": "qwen2", )" + dims + "}", "does not match"},
      {R"({"model_type": "llama", "hidden_size": "64"})", "hidden_size: expected an integer"},
      {"{not json", "not valid JSON"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<LlamaConfig> config = ParseLlamaConfig(c.json);
    ASSERT_FALSE(config.ok()) << c.json;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find(c.message), std::string::npos)
        << "got: " << config.status().message() << "\nwant: " << c.message;
  }
  EXPECT_EQ(LoadLlamaConfig("/nonexistent/config.json").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ftd
