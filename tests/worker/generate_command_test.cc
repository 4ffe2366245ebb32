// `ftd-worker generate` end to end: the real stories260K continues "Once upon a time" as llama2.c does, greedy
// ids equal an argmax loop over the full forward (no cache), an adapter generates what the merged model does,
// sampling is fixed by the seed, the three stop reasons, and bad input is one clear line with exit code 1.
#include "worker/generate_command.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "model/llama/llama_model.h"
#include "model/peft_adapter.h"
#include "model/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"
#include "tests/testing/temp_dir.h"
#include "worker/worker_cli.h"

namespace ftd {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kTinyLlama = FixturePath("model_io/tiny_llama");
const std::string kPrompt = "The quick brown fox";

// RunGenerate with --json; the parsed object, or null (and a test failure) on error.
json GenerateJson(GenerateOptions options) {
  options.output = GenerateOutput::kJson;
  std::ostringstream out;
  const absl::Status status = RunGenerate(options, out);
  EXPECT_TRUE(status.ok()) << status;
  return status.ok() ? json::parse(out.str()) : json();
}

GenerateOptions Greedy(const std::string& model_dir, const std::string& prompt, int64_t max_new_tokens) {
  GenerateOptions options;
  options.model_dir = model_dir;
  options.prompt = prompt;
  options.max_new_tokens = max_new_tokens;
  return options;
}

// A copy of tiny_llama whose config.json has `key` set to `value`.
std::string TinyLlamaWith(const TempDir& tmp, const std::string& key, const json& value) {
  const std::string dir = tmp.file("tiny_llama_" + key);
  fs::copy(kTinyLlama, dir, fs::copy_options::recursive);
  json config = json::parse(std::ifstream(dir + "/config.json"));
  config[key] = value;
  std::ofstream(dir + "/config.json", std::ios::trunc) << config.dump(2);
  return dir;
}

// The acceptance test of issue 4 (../shared/data/README.md): BOS + the dummy-prefix space, greedy.
TEST(GenerateCommandTest, Stories260KContinuesLikeLlama2c) {
  TempDir tmp("ftd_generate");
  const absl::StatusOr<std::string> dir = ImportStories260K(tmp);
  if (absl::IsNotFound(dir.status())) GTEST_SKIP() << dir.status().message();
  ASSERT_TRUE(dir.ok()) << dir.status();
  const json result = GenerateJson(Greedy(*dir, "Once upon a time", 64));
  const std::string text = result["text"].get<std::string>();
  EXPECT_EQ(text.rfind(", there was a little girl named Lily. She loved to play outside in the park.", 0), 0u)
      << text;
  EXPECT_EQ(result["prompt_tokens"].get<int64_t>(),
            static_cast<int64_t>((*Tokenizer::FromDir(*dir))->Encode("Once upon a time").size()));
  const std::string reason = result["stop_reason"].get<std::string>();
  EXPECT_TRUE(reason == "eos" || reason == "max_new_tokens") << reason;
  std::printf("stories260K: \"Once upon a time%s\" (%s)\n", text.c_str(), reason.c_str());
}

TEST(GenerateCommandTest, GreedyEqualsAnArgmaxLoopOverTheFullForward) {
  const json result = GenerateJson(Greedy(kTinyLlama, kPrompt, 12));
  const std::vector<int32_t> got = result["generated_ids"].get<std::vector<int32_t>>();

  std::unique_ptr<LlamaModel> model = LoadFixtureModel("tiny_llama");
  ASSERT_NE(model, nullptr);
  std::unique_ptr<Tokenizer> tokenizer = *Tokenizer::FromDir(kTinyLlama);
  std::vector<int32_t> ids = tokenizer->Encode(kPrompt);
  EXPECT_EQ(ids.front(), 0);  // bytebpe_small's post-processor adds <|begin_of_text|>.
  EXPECT_EQ(result["prompt_tokens"].get<size_t>(), ids.size());
  std::vector<int32_t> want;
  const int64_t V = model->config().vocab_size;
  while (want.size() < 12 && (want.empty() || want.back() != 1)) {  // 1: <|end_of_text|>, the config's EOS
    const int64_t T = static_cast<int64_t>(ids.size());
    absl::StatusOr<std::vector<float>> logits = model->Forward(ids, 1, T);
    ASSERT_TRUE(logits.ok()) << logits.status();
    const float* last = logits->data() + (T - 1) * V;
    ids.push_back(static_cast<int32_t>(std::max_element(last, last + V) - last));
    want.push_back(ids.back());
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(result["stop_reason"], want.back() == 1 ? "eos" : "max_new_tokens");

  // The text output is the same continuation as the JSON's.
  GenerateOptions text_options = Greedy(kTinyLlama, kPrompt, 12);
  std::ostringstream text;
  ASSERT_TRUE(RunGenerate(text_options, text).ok());
  EXPECT_EQ(text.str(), result["text"].get<std::string>() + "\n");
}

// With --adapter the tokens are those of PEFT's merged model (merge checked against PEFT in the model tests).
TEST(GenerateCommandTest, AdapterGeneratesWhatTheMergedModelDoes) {
  TempDir tmp("ftd_generate");
  const std::string merged = tmp.file("merged");
  ASSERT_TRUE(MergeLoraAdapter(kTinyLlama, FixturePath("model_io/lora_adapter"), merged).ok());
  GenerateOptions options = Greedy(kTinyLlama, kPrompt, 10);
  const json base = GenerateJson(options);
  options.adapter_dir = FixturePath("model_io/lora_adapter");
  const json adapted = GenerateJson(options);
  const json from_merged = GenerateJson(Greedy(merged, kPrompt, 10));
  EXPECT_EQ(adapted["generated_ids"], from_merged["generated_ids"]);
  EXPECT_NE(adapted["generated_ids"], base["generated_ids"]) << "the adapter changed nothing";
}

TEST(GenerateCommandTest, SamplingIsFixedByTheSeed) {
  GenerateOptions options = Greedy(kTinyLlama, kPrompt, 16);
  options.sampling = SamplingOptions{1.0, 0.9};
  options.seed = 7;
  const json a = GenerateJson(options);
  const json b = GenerateJson(options);
  options.seed = 8;
  const json c = GenerateJson(options);
  EXPECT_EQ(a["generated_ids"], b["generated_ids"]);
  EXPECT_NE(a["generated_ids"], c["generated_ids"]);
}

TEST(GenerateCommandTest, StopsAtEosAndAtTheModelsWindow) {
  TempDir tmp("ftd_generate");
  const json first = GenerateJson(Greedy(kTinyLlama, kPrompt, 1));
  const int32_t first_token = first["generated_ids"][0].get<int32_t>();
  EXPECT_EQ(first["stop_reason"], "max_new_tokens");

  // The greedy first token made the EOS: generation stops right after it, EOS included.
  const json eos = GenerateJson(Greedy(TinyLlamaWith(tmp, "eos_token_id", first_token), kPrompt, 10));
  EXPECT_EQ(eos["generated_ids"], json::array({first_token}));
  EXPECT_EQ(eos["stop_reason"], "eos");

  // A window of prompt + 2 positions: the prompt, two fed-back tokens, and the third one generated from them.
  const int64_t prompt_tokens = first["prompt_tokens"].get<int64_t>();
  const std::string short_window = TinyLlamaWith(tmp, "max_position_embeddings", prompt_tokens + 2);
  const json window = GenerateJson(Greedy(short_window, kPrompt, 10));
  EXPECT_EQ(window["generated_ids"].size(), 3u);
  EXPECT_EQ(window["stop_reason"], "max_length");

  std::ostringstream out;
  const absl::Status too_long = RunGenerate(Greedy(short_window, kPrompt + " jumps over the lazy dog", 4), out);
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.message().find("more than the model's window of " + std::to_string(prompt_tokens + 2)),
            std::string::npos)
      << too_long;
}

struct CliResult {
  int code = -1;
  std::string out, err;
};

CliResult RunCli(std::vector<std::string> args) {
  args.insert(args.begin(), {"ftd-worker", "generate"});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  CliResult r;
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  r.code = RunWorkerCli(static_cast<int>(argv.size()), argv.data());
  r.out = ::testing::internal::GetCapturedStdout();
  r.err = ::testing::internal::GetCapturedStderr();
  return r;
}

TEST(GenerateCommandTest, CliPrintsTheContinuation) {
  const CliResult r = RunCli({"--model", kTinyLlama, "--prompt", kPrompt, "--max-new-tokens", "5", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json result = json::parse(r.out);
  EXPECT_EQ(result["generated_ids"].size(), 5u);
  EXPECT_TRUE(result.contains("text") && result.contains("prompt_tokens") && result.contains("stop_reason"));
}

TEST(GenerateCommandTest, CliErrorsAreOneLineAndExitCode1) {
  TempDir tmp("ftd_generate");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--model", tmp.file("missing"), "--prompt", "hi"}, tmp.file("missing")},
      {{"--model", kTinyLlama, "--prompt", ""}, "the prompt is empty"},
      {{"--model", kTinyLlama, "--prompt", "hi", "--top-p", "1.5"}, "top_p must be in (0, 1], got 1.5"},
      {{"--model", kTinyLlama, "--prompt", "hi", "--top-p", "0"}, "top_p must be in (0, 1], got 0"},
      {{"--model", kTinyLlama, "--prompt", "hi", "--temperature", "-1"},
       "temperature must be a finite number >= 0 (0: greedy), got -1"},
      {{"--model", kTinyLlama, "--prompt", "hi", "--max-new-tokens", "0"}, "max_new_tokens must be >= 1, got 0"},
      {{"--model", kTinyLlama, "--prompt", "hi", "--adapter", tmp.file("no_adapter")}, tmp.file("no_adapter")},
  };
  for (const auto& [args, message] : cases) {
    const CliResult r = RunCli(args);
    EXPECT_EQ(r.code, 1) << args[3] << " " << r.err;
    EXPECT_EQ(r.err.rfind("ftd-worker generate: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

}  // namespace
}  // namespace ftd
