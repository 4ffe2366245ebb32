// `ftd-worker score` end to end on tiny_llama: string requests are encoded as lm-eval encodes them (the ids
// gen_eval_requests.py recorded from lm_eval's HFLM) and scored; a bad line fails alone, with file:line.
#include "worker/score_command.h"

#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "eval/loglikelihood.h"
#include "gtest/gtest.h"
#include "model/peft_adapter.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

TEST(ScoreCommandTest, ScoresRequestsLikeLmEvalAndFailsBadLinesAlone) {
  std::ifstream in(FixturePath("eval/requests_tiny_llama.json"));
  ASSERT_TRUE(in);
  const nlohmann::json fixture = nlohmann::json::parse(in);
  TempDir tmp("ftd_score");
  const std::string requests = tmp.file("requests.jsonl");
  {
    std::ofstream out(requests);
    for (const nlohmann::json& r : fixture["requests"]) {
      out << nlohmann::json{{"context", r["context"]}, {"continuation", r["continuation"]}}.dump() << "\n";
    }
    out << R"({"context": "x", "answer": "y"})" << "\n";
    out << nlohmann::json{{"text", fixture["rolling"]["text"]}}.dump() << "\n";
  }
  ScoreOptions options{FixturePath("model_io/tiny_llama"), "", requests, 64};
  std::ostringstream out;
  absl::Status status = RunScore(options, out);
  EXPECT_EQ(status.message(),
            "1 request(s) failed; first: " + requests + ":" + std::to_string(fixture["requests"].size() + 1) +
                ": unknown key \"answer\"");

  const std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), fixture["requests"].size() + 2);
  std::unique_ptr<LlamaModel> model = LoadCpuModel(options.model_dir);
  ASSERT_NE(model, nullptr);
  for (size_t i = 0; i < fixture["requests"].size(); ++i) {
    const nlohmann::json& r = fixture["requests"][i];
    const nlohmann::json got = nlohmann::json::parse(lines[i]);
    ASSERT_TRUE(got.contains("logprob")) << lines[i];
    TokenRequest ids{r["context_ids"].get<std::vector<int32_t>>(), r["continuation_ids"].get<std::vector<int32_t>>()};
    absl::StatusOr<LoglikelihoodResult> want = ScoreRequest(*model, ids, 64);
    ASSERT_TRUE(want.ok()) << want.status();
    EXPECT_DOUBLE_EQ(got["logprob"].get<double>(), want->logprob) << r["context"];
    EXPECT_EQ(got["tokens"].get<int64_t>(), static_cast<int64_t>(ids.continuation.size())) << r["context"];
  }
  EXPECT_TRUE(nlohmann::json::parse(lines[fixture["requests"].size()]).contains("error"));
  const nlohmann::json rolling = nlohmann::json::parse(lines.back());
  EXPECT_EQ(rolling["tokens"].get<size_t>(), fixture["rolling"]["token_ids"].size());
  EXPECT_LT(rolling["logprob"].get<double>(), 0.0);
}

// With --adapter the scores are those of the adapted model: equal to scoring PEFT's merged model (tiny_llama
// + the lora_adapter fixture, merged by MergeLoraAdapter, which ctest checks against PEFT's merge).
TEST(ScoreCommandTest, AdapterScoresEqualTheMergedModel) {
  TempDir tmp("ftd_score");
  const std::string requests = tmp.file("requests.jsonl");
  std::ofstream(requests) << R"({"context": "The capital of France is", "continuation": " Paris"})" << "\n"
                          << R"({"text": "It was the best of times."})" << "\n";
  const std::string merged = tmp.file("merged");
  ASSERT_TRUE(MergeLoraAdapter(FixturePath("model_io/tiny_llama"), FixturePath("model_io/lora_adapter"), merged).ok());
  std::ostringstream with_adapter, with_merged, base;
  ScoreOptions options{FixturePath("model_io/tiny_llama"), FixturePath("model_io/lora_adapter"), requests, 64};
  ASSERT_TRUE(RunScore(options, with_adapter).ok());
  options.model_dir = merged;
  options.adapter_dir = "";
  ASSERT_TRUE(RunScore(options, with_merged).ok());
  options.model_dir = FixturePath("model_io/tiny_llama");
  ASSERT_TRUE(RunScore(options, base).ok());
  const std::vector<std::string> a = absl::StrSplit(with_adapter.str(), '\n', absl::SkipEmpty());
  const std::vector<std::string> m = absl::StrSplit(with_merged.str(), '\n', absl::SkipEmpty());
  const std::vector<std::string> b = absl::StrSplit(base.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(m.size(), 2u);
  for (size_t i = 0; i < a.size(); ++i) {
    const double adapted = nlohmann::json::parse(a[i])["logprob"], merged_lp = nlohmann::json::parse(m[i])["logprob"];
    EXPECT_NEAR(adapted, merged_lp, 1e-4) << i;
    EXPECT_GT(std::fabs(adapted - nlohmann::json::parse(b[i])["logprob"].get<double>()), 1e-3) << "adapter had no effect";
  }
}

TEST(ScoreCommandTest, AMissingModelStopsEverything) {
  ScoreOptions options{"/nonexistent/model", "", "/nonexistent/requests.jsonl", 0};
  std::ostringstream out;
  EXPECT_FALSE(RunScore(options, out).ok());
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace ftd
