// Loglikelihood scoring against lm-eval's HFLM on the same model: gen_training.py recorded, for tiny_llama
// and tiny_qwen2, 7 token requests (logprob, is_greedy) and one rolling loglikelihood (max_len 16).
#include "eval/loglikelihood.h"

#include <cmath>
#include <fstream>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"

namespace ftd {
namespace {

class LoglikelihoodTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LoglikelihoodTest, MatchesLmEval) {
  const std::string model_name = GetParam();
  std::unique_ptr<LlamaModel> model = LoadFixtureModel(model_name);
  ASSERT_NE(model, nullptr);
  std::ifstream in(FixturePath("training/" + model_name + "/loglikelihood.json"));
  ASSERT_TRUE(in);
  const nlohmann::json fixture = nlohmann::json::parse(in);
  const int64_t max_length = fixture["max_length"];

  double worst = 0;
  for (const nlohmann::json& r : fixture["requests"]) {
    TokenRequest request{r["context_ids"].get<std::vector<int32_t>>(),
                         r["continuation_ids"].get<std::vector<int32_t>>()};
    absl::StatusOr<LoglikelihoodResult> result = ScoreRequest(*model, request, max_length);
    ASSERT_TRUE(result.ok()) << result.status();
    const double want = r["logprob"];
    worst = std::max(worst, std::fabs(result->logprob - want));
    EXPECT_NEAR(result->logprob, want, 1e-4) << r["description"];
    EXPECT_EQ(result->is_greedy, r["is_greedy"].get<bool>()) << r["description"];
  }
  const nlohmann::json& rolling = fixture["rolling"];
  absl::StatusOr<LoglikelihoodResult> total =
      ScoreRolling(*model, rolling["token_ids"].get<std::vector<int32_t>>(),
                   rolling["prefix_token_id"].get<int32_t>(), rolling["max_len"].get<int64_t>());
  ASSERT_TRUE(total.ok()) << total.status();
  EXPECT_NEAR(total->logprob, rolling["loglikelihood"].get<double>(), 1e-4);
  EXPECT_EQ(total->tokens, static_cast<int64_t>(rolling["token_ids"].size()));
  std::printf("%s: worst |logprob - lm-eval| over requests %.3g, rolling %.3g\n", model_name.c_str(), worst,
              std::fabs(total->logprob - rolling["loglikelihood"].get<double>()));
}

INSTANTIATE_TEST_SUITE_P(TinyModels, LoglikelihoodTest, ::testing::Values("tiny_llama", "tiny_qwen2"));

TEST(LoglikelihoodTest, RejectsEmptyAndOverlongContinuations) {
  std::unique_ptr<LlamaModel> model = LoadFixtureModel("tiny_llama");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(ScoreRequest(*model, {{1, 2}, {}}, 16).status().message(), "score: empty continuation");
  EXPECT_EQ(ScoreRequest(*model, {{1}, {2, 3, 4}}, 2).status().message(),
            "score: continuation of 3 tokens is longer than max_length 2");
}

}  // namespace
}  // namespace ftd
