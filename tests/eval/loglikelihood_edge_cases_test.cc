// The loglikelihood edge cases, one test each (issue 7, done-when 2), on the tiny_llama fixture tokenizer and model,
// with lm-eval 0.4.13's own token splits (tests/fixtures/eval/requests_tiny_llama.json, gen_eval_requests.py) as
// the reference where the rule is lm-eval's: trailing whitespace of the context, BOS/prefix handling, a
// continuation split where the tokenizer merges across the boundary, and contexts longer than the model's window.
#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "eval/choice_scorer.h"
#include "eval/loglikelihood.h"
#include "eval/loglikelihood_request.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"

namespace ftd {
namespace {

using json = nlohmann::json;

class LoglikelihoodEdgeCasesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(FixturePath("eval/requests_tiny_llama.json"));
    ASSERT_TRUE(in);
    fixture_ = json::parse(in);
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromDir(FixturePath("model_io/tiny_llama"));
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = *std::move(tokenizer);
  }

  // lm-eval's recorded split of (context, continuation).
  const json& Recorded(const std::string& context, const std::string& continuation) {
    for (const json& r : fixture_["requests"]) {
      if (r["context"] == context && r["continuation"] == continuation) return r;
    }
    ADD_FAILURE() << "no recorded request for [" << context << "] + [" << continuation << "]";
    static const json kNone;
    return kNone;
  }

  TokenRequest Encode(const std::string& context, const std::string& continuation) {
    absl::StatusOr<TokenRequest> request = EncodeLoglikelihoodRequest(*tokenizer_, context, continuation);
    EXPECT_TRUE(request.ok()) << request.status();
    return request.ok() ? *request : TokenRequest();
  }

  json fixture_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(LoglikelihoodEdgeCasesTest, TrailingWhitespaceMovesFromContextToContinuation) {
  for (const auto& [context, continuation] : std::vector<std::pair<std::string, std::string>>{
           {"two spaces  ", " y"}, {"trailing tab\t", "x"}, {"Question: 2+2=? Answer: ", "4"}}) {
    const TokenRequest request = Encode(context, continuation);
    const json& recorded = Recorded(context, continuation);
    EXPECT_EQ(request.context, recorded["context_ids"].get<std::vector<int32_t>>()) << context;
    EXPECT_EQ(request.continuation, recorded["continuation_ids"].get<std::vector<int32_t>>()) << context;
    // The context is encoded without its trailing whitespace: the same as encoding the stripped context.
    const std::string stripped = context.substr(0, context.find_last_not_of(" \t") + 1);
    absl::StatusOr<std::vector<int32_t>> stripped_ids = LmEvalEncode(*tokenizer_, stripped);
    ASSERT_TRUE(stripped_ids.ok());
    EXPECT_EQ(request.context, *stripped_ids) << context;
  }
  // "Answer: " + "4" and "Answer:" + " 4" are the same request once the space has moved.
  EXPECT_EQ(Encode("Question: 2+2=? Answer: ", "4").continuation,
            Encode("Question: 2+2=? Answer:", " 4").continuation);
}

TEST_F(LoglikelihoodEdgeCasesTest, BosStartsTheContextOnceAndAnEmptyContextIsThePrefixToken) {
  absl::StatusOr<int32_t> prefix = PrefixTokenId(*tokenizer_);
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(*prefix, fixture_["prefix_token_id"].get<int32_t>());
  const TokenRequest normal = Encode("The capital of France is", " Paris");
  ASSERT_FALSE(normal.context.empty());
  EXPECT_EQ(normal.context.front(), *prefix);  // HFLM adds BOS to contexts...
  EXPECT_NE(normal.continuation.front(), *prefix);  // ...never to continuations.
  // An empty context is conditioned on the prefix token alone; the continuation is encoded without specials.
  const std::string empty_continuation = "An empty context is conditioned on the prefix token.";
  const TokenRequest empty = Encode("", empty_continuation);
  EXPECT_EQ(empty.context, std::vector<int32_t>{*prefix});
  EXPECT_EQ(empty.continuation, Recorded("", empty_continuation)["continuation_ids"].get<std::vector<int32_t>>());
  // Text that already starts with the BOS text is not given a second BOS.
  absl::StatusOr<std::vector<int32_t>> once = LmEvalEncode(*tokenizer_, "hello");
  ASSERT_TRUE(once.ok());
  const std::string bos_text = tokenizer_->Decode({*prefix});
  absl::StatusOr<std::vector<int32_t>> again = LmEvalEncode(*tokenizer_, bos_text + "hello");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(std::count(again->begin(), again->end(), *prefix), 1);
}

TEST_F(LoglikelihoodEdgeCasesTest, TheContinuationIsTheWholeEncodingPastTheContextTokens) {
  // "no space" + "joined" merges across the boundary in BPE; lm-eval takes enc(ctx + cont)[len(enc(ctx)):], so
  // the continuation is whatever the whole encoding has past the context's token count.
  for (const auto& [context, continuation] :
       std::vector<std::pair<std::string, std::string>>{{"no space", "joined"}, {"Numbers: 12345 and", " 678910"}}) {
    const TokenRequest request = Encode(context, continuation);
    absl::StatusOr<std::vector<int32_t>> whole = LmEvalEncode(*tokenizer_, context + continuation);
    ASSERT_TRUE(whole.ok());
    ASSERT_GE(whole->size(), request.context.size());
    EXPECT_EQ(request.continuation, std::vector<int32_t>(whole->begin() + static_cast<long>(request.context.size()),
                                                         whole->end()))
        << context;
    EXPECT_EQ(request.continuation, Recorded(context, continuation)["continuation_ids"].get<std::vector<int32_t>>());
  }
}

TEST_F(LoglikelihoodEdgeCasesTest, AContextLongerThanTheWindowKeepsItsLastTokens) {
  std::unique_ptr<LlamaModel> model = LoadFixtureModel("tiny_llama");
  const TokenRequest request = Encode(std::string(200, 'a') + " and then", " the end");
  constexpr int64_t kMaxLength = 16;
  ASSERT_GT(static_cast<int64_t>(request.context.size() + request.continuation.size()), kMaxLength + 1);
  // HFLM feeds (context + continuation)[-(max_length + 1):][:-1]: the same as a request whose context is cut to
  // the tokens that fit, so the early context cannot change the score.
  TokenRequest cut = request;
  const size_t keep = static_cast<size_t>(kMaxLength + 1) - request.continuation.size();
  cut.context.assign(request.context.end() - static_cast<long>(keep), request.context.end());
  absl::StatusOr<LoglikelihoodResult> full = ScoreRequest(*model, request, kMaxLength);
  absl::StatusOr<LoglikelihoodResult> truncated = ScoreRequest(*model, cut, kMaxLength);
  ASSERT_TRUE(full.ok() && truncated.ok());
  EXPECT_EQ(full->logprob, truncated->logprob);
  // The shared-context scorer takes the same rule (its fallback).
  absl::StatusOr<std::vector<LoglikelihoodResult>> choices = ScoreChoices(*model, {request}, kMaxLength);
  ASSERT_TRUE(choices.ok());
  EXPECT_EQ((*choices)[0].logprob, full->logprob);
  // A continuation longer than the window cannot be scored.
  TokenRequest too_long = request;
  too_long.continuation.assign(kMaxLength + 1, request.continuation.front());
  EXPECT_EQ(ScoreRequest(*model, too_long, kMaxLength).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ftd
