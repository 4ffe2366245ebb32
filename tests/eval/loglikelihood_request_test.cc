// Request encoding against lm-evaluation-harness itself: the token splits and rolling windows that
// tests/fixtures/gen_eval_requests.py recorded from lm_eval 0.4.13's HFLM, for a byte-level BPE fixture
// tokenizer and (when ../shared/data is present) the real Llama-2 tokenizer.
#include "eval/loglikelihood_request.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

const std::string kSource = FTD_SOURCE_DIR;

struct Case {
  std::string name;          // Fixture name: tests/fixtures/eval/requests_<name>.json.
  std::string tokenizer_dir;
};

class LmEvalRequestTest : public ::testing::TestWithParam<Case> {};

TEST_P(LmEvalRequestTest, MatchesHflm) {
  const Case& c = GetParam();
  if (!std::filesystem::exists(c.tokenizer_dir + "/tokenizer.json")) {
    GTEST_SKIP() << c.tokenizer_dir << " is absent (../shared/data is optional)";
  }
  std::ifstream in(kSource + "/tests/fixtures/eval/requests_" + c.name + ".json");
  ASSERT_TRUE(in) << "missing fixture for " << c.name << " (gen_eval_requests.py)";
  const nlohmann::json fixture = nlohmann::json::parse(in);
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromDir(c.tokenizer_dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();

  absl::StatusOr<int32_t> prefix = PrefixTokenId(**tokenizer);
  ASSERT_TRUE(prefix.ok()) << prefix.status();
  EXPECT_EQ(*prefix, fixture["prefix_token_id"].get<int32_t>());

  for (const nlohmann::json& r : fixture["requests"]) {
    const std::string context = r["context"], continuation = r["continuation"];
    absl::StatusOr<TokenRequest> request = EncodeLoglikelihoodRequest(**tokenizer, context, continuation);
    ASSERT_TRUE(request.ok()) << request.status() << " for " << context;
    EXPECT_EQ(request->context, r["context_ids"].get<std::vector<int32_t>>()) << "context of [" << context << "]";
    EXPECT_EQ(request->continuation, r["continuation_ids"].get<std::vector<int32_t>>())
        << "continuation of [" << context << "] + [" << continuation << "]";
  }

  const nlohmann::json& rolling = fixture["rolling"];
  absl::StatusOr<std::vector<int32_t>> tokens = LmEvalEncode(**tokenizer, rolling["text"].get<std::string>());
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(*tokens, rolling["token_ids"].get<std::vector<int32_t>>());
  const std::vector<TokenRequest> windows = RollingWindows(*tokens, *prefix, fixture["max_length"].get<int64_t>());
  ASSERT_EQ(windows.size(), rolling["windows"].size());
  for (size_t i = 0; i < windows.size(); ++i) {
    EXPECT_EQ(windows[i].context, rolling["windows"][i]["context_ids"].get<std::vector<int32_t>>()) << i;
    EXPECT_EQ(windows[i].continuation, rolling["windows"][i]["continuation_ids"].get<std::vector<int32_t>>()) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Tokenizers, LmEvalRequestTest,
    ::testing::Values(Case{"tiny_llama", kSource + "/tests/fixtures/model_io/tiny_llama"},
                      Case{"llama", kSource + "/../shared/data/tokenizers/llama"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// The rolling windows gen_training.py recorded with lm_eval's own functions on raw token ids.
TEST(RollingWindowsTest, MatchesLmEvalOnTokenIds) {
  std::ifstream in(kSource + "/tests/fixtures/training/tiny_llama/loglikelihood.json");
  ASSERT_TRUE(in);
  const nlohmann::json rolling = nlohmann::json::parse(in)["rolling"];
  const std::vector<TokenRequest> windows =
      RollingWindows(rolling["token_ids"].get<std::vector<int32_t>>(), rolling["prefix_token_id"].get<int32_t>(),
                     rolling["max_len"].get<int64_t>());
  ASSERT_EQ(windows.size(), rolling["windows"].size());
  size_t scored = 0;
  for (size_t i = 0; i < windows.size(); ++i) {
    EXPECT_EQ(windows[i].context, rolling["windows"][i]["context_ids"].get<std::vector<int32_t>>()) << i;
    EXPECT_EQ(windows[i].continuation, rolling["windows"][i]["continuation_ids"].get<std::vector<int32_t>>()) << i;
    scored += windows[i].continuation.size();
  }
  EXPECT_EQ(scored, rolling["token_ids"].size());  // Every token scored exactly once.
  EXPECT_TRUE(RollingWindows({}, 0, 16).empty());
}

}  // namespace
}  // namespace ftd
