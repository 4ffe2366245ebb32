// The FLOP rule against the figures bench/README.md works out by hand for the benchmark model, and N_base against
// the parameter count the config implies.
#include "model/training_flops.h"

#include "gtest/gtest.h"
#include "model/model_config.h"

namespace ftd {
namespace {

// bench/README.md's model: 8 layers, hidden 512 (8 heads x 64), 4 KV heads, MLP 1536, vocabulary 8192.
LlamaConfig BenchModel() {
  LlamaConfig c;
  c.hidden_size = 512;
  c.intermediate_size = 1536;
  c.num_hidden_layers = 8;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.head_dim = 64;
  c.vocab_size = 8192;
  return c;
}

TEST(TrainingFlopsTest, MatchesTheBenchReadmeWorkedExample) {
  const LlamaConfig c = BenchModel();
  EXPECT_EQ(MatmulWeightCount(c), 29'360'128);
  constexpr int64_t kLoraParams = 1'245'184;  // r = 16 on the seven projections of every layer.
  EXPECT_EQ(TrainingFlopsPerToken(c, kLoraParams, /*full=*/false, 256), 131'203'072);
  EXPECT_EQ(TrainingFlopsPerToken(c, 0, /*full=*/true, 256), 182'452'224);
}

TEST(TrainingFlopsTest, BaseWeightsAreTheProjectionsAndTheHeadOfTheConfig) {
  LlamaConfig c = BenchModel();
  const ParameterCounts counts = CountParameters(c);
  EXPECT_EQ(MatmulWeightCount(c), counts.attention + counts.mlp + counts.lm_head);
  // A tied head is still a matmul on every token.
  c.tie_word_embeddings = true;
  EXPECT_EQ(MatmulWeightCount(c), CountParameters(c).attention + CountParameters(c).mlp + c.vocab_size * 512);
}

TEST(TrainingFlopsTest, AttentionGrowsWithTheSequenceAndTrainedWeightsCostTheirGradients) {
  const LlamaConfig c = BenchModel();
  // 6 L d more per token for each position of context.
  EXPECT_EQ(TrainingFlopsPerToken(c, 0, true, 257) - TrainingFlopsPerToken(c, 0, true, 256), 6 * 8 * 512);
  // An adapter parameter costs 6 (forward, input and weight gradients); a frozen base weight 4.
  EXPECT_EQ(TrainingFlopsPerToken(c, 1001, false, 1) - TrainingFlopsPerToken(c, 1000, false, 1), 6);
  EXPECT_EQ(TrainingFlopsPerToken(c, 0, true, 1) - TrainingFlopsPerToken(c, 0, false, 1), 2 * MatmulWeightCount(c));
}

}  // namespace
}  // namespace ftd
