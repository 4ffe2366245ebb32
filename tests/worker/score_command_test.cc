// `ftd-worker score` end to end on tiny_llama: string requests are encoded as lm-eval encodes them (the ids
// gen_eval_requests.py recorded from lm_eval's HFLM) and scored; a bad line fails alone, with file:line. With
// --quantize-base, the adapter is scored on the NF4-quantised base, as QLoRA trained it.
#include "worker/score_command.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "eval/loglikelihood.h"
#include "gtest/gtest.h"
#include "model/hf_model.h"
#include "model/peft_adapter.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"
#include "tests/testing/nf4_dequantised.h"
#include "tests/testing/temp_dir.h"
#include "worker/inference_model.h"

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

// The logprobs of RunScore's output lines.
std::vector<double> Logprobs(const std::string& output) {
  std::vector<double> logprobs;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    const nlohmann::json result = nlohmann::json::parse(line);
    logprobs.push_back(result.contains("logprob") ? result["logprob"].get<double>() : std::nan(""));
  }
  return logprobs;
}

std::vector<double> ScoreWith(ScoreOptions options) {
  std::ostringstream out;
  const absl::Status status = RunScore(options, out);
  EXPECT_TRUE(status.ok()) << status;
  return Logprobs(out.str());
}

// --quantize-base scores the adapter on the base NF4-quantised at load: other numbers than the fp32 base gives, and
// those of the same adapter on a directory whose projections are the NF4 round trip (the fp32 twin; the NF4 matmul
// and the fp32 one sum in different orders, hence the tolerance).
TEST(ScoreCommandTest, QuantizeBaseScoresTheAdapterOnTheNf4Base) {
  TempDir tmp("ftd_score");
  const std::string requests = tmp.file("requests.jsonl");
  std::ofstream(requests) << R"({"context": "The capital of France is", "continuation": " Paris"})" << "\n"
                          << R"({"text": "It was the best of times."})" << "\n";
  const ScoreOptions fp32{FixturePath("model_io/tiny_llama"), FixturePath("model_io/lora_adapter"), requests, 64};
  const std::vector<double> unquantised = ScoreWith(fp32);
  ASSERT_EQ(unquantised.size(), 2u);
  absl::StatusOr<HfModel> hf = LoadHfModel(fp32.model_dir);
  ASSERT_TRUE(hf.ok()) << hf.status();
  for (const Nf4Statistics statistics : {Nf4Statistics::kFp32Absmax, Nf4Statistics::kDoubleQuant}) {
    SCOPED_TRACE(statistics == Nf4Statistics::kDoubleQuant ? "double quant" : "fp32 absmax");
    ScoreOptions quantised = fp32;
    quantised.quantize_base = statistics;
    const std::vector<double> scored = ScoreWith(quantised);
    ScoreOptions twin = fp32;
    twin.model_dir = tmp.file(statistics == Nf4Statistics::kDoubleQuant ? "twin_dq" : "twin");
    WriteNf4DequantisedModel(*hf, statistics, twin.model_dir);
    const std::vector<double> expected = ScoreWith(twin);
    ASSERT_EQ(scored.size(), 2u);
    ASSERT_EQ(expected.size(), 2u);
    for (size_t i = 0; i < scored.size(); ++i) {
      EXPECT_NEAR(scored[i], expected[i], 1e-4) << i;
      EXPECT_GT(std::fabs(scored[i] - unquantised[i]), 1e-4) << i << ": quantising the base changed nothing";
    }
  }
}

// A bitsandbytes 4-bit directory (transformers wrote the fixture from tiny_llama) is scored with its stored codes,
// flag or not: the numbers of tiny_llama quantised at load with the same statistics, since ftd's NF4 equals
// bitsandbytes' bit for bit.
TEST(ScoreCommandTest, A4BitDirectoryScoresWithItsStoredCodes) {
  TempDir tmp("ftd_score");
  const std::string requests = tmp.file("requests.jsonl");
  std::ofstream(requests) << R"({"context": "The capital of France is", "continuation": " Paris"})" << "\n";
  // The fixture holds config.json and weights only: tiny_llama's tokenizer files beside them.
  const std::string dir = tmp.file("tiny_llama_nf4_dq");
  std::filesystem::copy(FixturePath("quant/tiny_llama_nf4_dq"), dir);
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
    std::filesystem::copy_file(FixturePath(std::string("model_io/tiny_llama/") + name), dir + "/" + name);
  }
  ScoreOptions stored{dir, FixturePath("model_io/lora_adapter"), requests, 64};
  const std::vector<double> as_stored = ScoreWith(stored);
  stored.quantize_base = Nf4Statistics::kFp32Absmax;  // Ignored: the stored (double-quantised) codes win.
  EXPECT_EQ(ScoreWith(stored), as_stored);
  ScoreOptions at_load{FixturePath("model_io/tiny_llama"), FixturePath("model_io/lora_adapter"), requests, 64};
  at_load.quantize_base = Nf4Statistics::kDoubleQuant;
  EXPECT_EQ(ScoreWith(at_load), as_stored);
}

TEST(ScoreCommandTest, QuantizeBaseFlagValues) {
  EXPECT_EQ(*ParseQuantizeBase(""), std::nullopt);
  EXPECT_EQ(*ParseQuantizeBase("nf4"), Nf4Statistics::kFp32Absmax);
  EXPECT_EQ(*ParseQuantizeBase("nf4-double-quant"), Nf4Statistics::kDoubleQuant);
  const absl::Status bad = ParseQuantizeBase("fp4").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "--quantize-base must be nf4 or nf4-double-quant, got \"fp4\"");
}

TEST(ScoreCommandTest, AMissingModelStopsEverything) {
  ScoreOptions options{"/nonexistent/model", "", "/nonexistent/requests.jsonl", 0};
  std::ostringstream out;
  EXPECT_FALSE(RunScore(options, out).ok());
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace ftd
