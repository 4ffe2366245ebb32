// ScoreChoices equals ScoreRequest choice by choice (the cached-context path and the truncating fallback), on the
// tiny fixture models, and refuses mixed contexts and empty continuations.
#include "eval/choice_scorer.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/llama_fixtures.h"

namespace ftd {
namespace {

TokenRequest Request(std::vector<int32_t> context, std::vector<int32_t> continuation) {
  TokenRequest request;
  request.context = std::move(context);
  request.continuation = std::move(continuation);
  return request;
}

class ChoiceScorerTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ChoiceScorerTest, EqualsScoringEachChoiceAlone) {
  std::unique_ptr<LlamaModel> model = LoadFixtureModel(GetParam());
  const std::vector<int32_t> context = {1, 17, 42, 5, 99, 23, 8, 64, 12};
  // One-token choices (MMLU's " A".." D"), longer ones (HellaSwag endings), and one too long for max_length 16,
  // which HFLM truncates from the left: it takes the fallback.
  const std::vector<TokenRequest> requests = {
      Request(context, {30}), Request(context, {31}), Request(context, {7, 9, 11}),
      Request(context, {3, 4, 5, 6, 7, 8, 9}), Request(context, {2, 3, 4, 5, 6, 7, 8, 9, 10})};
  constexpr int64_t kMaxLength = 16;
  absl::StatusOr<std::vector<LoglikelihoodResult>> shared = ScoreChoices(*model, requests, kMaxLength);
  ASSERT_TRUE(shared.ok()) << shared.status();
  ASSERT_EQ(shared->size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::StatusOr<LoglikelihoodResult> alone = ScoreRequest(*model, requests[i], kMaxLength);
    ASSERT_TRUE(alone.ok()) << alone.status();
    // The cached path sums in another order (decode kernels vs the full forward): equal to float rounding, far
    // inside the 1e-4 relative of the lm-eval parity tests.
    EXPECT_NEAR((*shared)[i].logprob, alone->logprob, 1e-5 * std::abs(alone->logprob) + 1e-6) << "choice " << i;
    EXPECT_EQ((*shared)[i].is_greedy, alone->is_greedy) << "choice " << i;
    EXPECT_EQ((*shared)[i].tokens, alone->tokens) << "choice " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(TinyModels, ChoiceScorerTest, ::testing::Values("tiny_llama", "tiny_qwen2"));

TEST(ChoiceScorerErrorsTest, RefusesMixedContextsAndEmptyContinuations) {
  std::unique_ptr<LlamaModel> model = LoadFixtureModel("tiny_llama");
  EXPECT_EQ(ScoreChoices(*model, {Request({1, 2}, {3}), Request({1, 4}, {3})}, 16).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ScoreChoices(*model, {Request({1, 2}, {})}, 16).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<LoglikelihoodResult>> none = ScoreChoices(*model, {}, 16);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace ftd
