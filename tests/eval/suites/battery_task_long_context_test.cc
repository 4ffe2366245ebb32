// RunSuite's task and long_context suites on the tiny fixture model over small files the test writes: the result's
// structure, and its numbers equal to scoring the same items directly (ScoreChoices' argmax for the task; the
// fitted needle prompts greedily decoded for long_context).
#include <filesystem>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "eval/battery.h"
#include "eval/choice_scorer.h"
#include "eval/greedy_decode.h"
#include "eval/loglikelihood_request.h"
#include "eval/suites/long_context.h"
#include "eval/suites/task.h"
#include "gtest/gtest.h"
#include "tests/testing/llama_fixtures.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

void Write(const std::string& path, absl::string_view text) {
  std::ofstream out(path);
  out << text;
}

const SuiteMetric* Find(const SuiteResult& result, absl::string_view name) {
  for (const SuiteMetric& m : result.metrics) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

class BatteryNewSuitesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = LoadFixtureModel("tiny_llama");
    ASSERT_NE(model_, nullptr);
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromDir(FixturePath("model_io/tiny_llama"));
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = std::move(*tokenizer);
  }
  TempDir tmp_;
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(BatteryNewSuitesTest, TaskEqualsScoreChoicesArgmax) {
  const std::string dir = tmp_.file("mood");
  std::filesystem::create_directories(dir);
  Write(dir + "/config.json", R"({"name": "mood", "task_type": "classification", "options": ["happy", "sad", "calm"],
    "instruction": "Tell the mood.", "demonstration_prompt": "Text: {text}\nMood: {label}",
    "inference_prompt": "Text: {text}\nMood:"})");
  Write(dir + "/train_0.jsonl",
        "{\"text\": \"I won!\", \"label\": \"happy\", \"id\": \"train_0_0\"}\n"
        "{\"text\": \"It rained.\", \"label\": \"sad\", \"id\": \"train_0_1\"}\n");
  Write(dir + "/test.jsonl",
        "{\"text\": \"A sunny day\", \"label\": \"happy\", \"id\": \"test_0\"}\n"
        "{\"text\": \"Lost my keys\", \"label\": \"sad\", \"id\": \"test_1\"}\n"
        "{\"text\": \"Tea by the sea\", \"label\": \"calm\", \"id\": \"test_2\"}\n"
        "{\"text\": \"Best party\", \"label\": \"happy\", \"id\": \"test_3\"}\n"
        "{\"text\": \"Quiet lake\", \"label\": \"calm\", \"id\": \"test_4\"}\n");
  SuiteSpec spec;
  spec.kind = SuiteKind::kTask;
  spec.data = dir;
  spec.num_fewshot = 2;
  absl::StatusOr<SuiteResult> result = RunSuite(*model_, *tokenizer_, spec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->name, "mood");
  EXPECT_EQ(result->items, 5);
  ASSERT_EQ(result->metrics.size(), 2u);
  EXPECT_EQ(result->metrics[0].name, "acc");
  EXPECT_EQ(result->metrics[1].name, "macro_f1");

  absl::StatusOr<LoadedTask> task = LoadTask(dir, 2);
  ASSERT_TRUE(task.ok()) << task.status();
  std::vector<int> gold, predicted;
  double correct = 0;
  for (const MultipleChoiceItem& item : task->items) {
    std::vector<TokenRequest> requests;
    for (const TextRequest& text : Requests(item)) {
      absl::StatusOr<TokenRequest> r = EncodeLoglikelihoodRequest(*tokenizer_, text.context, text.continuation);
      ASSERT_TRUE(r.ok()) << r.status();
      requests.push_back(*r);
    }
    absl::StatusOr<std::vector<LoglikelihoodResult>> lls =
        ScoreChoices(*model_, requests, model_->config().max_position_embeddings);
    ASSERT_TRUE(lls.ok()) << lls.status();
    int best = 0;
    for (size_t c = 1; c < lls->size(); ++c) {
      if ((*lls)[c].logprob > (*lls)[static_cast<size_t>(best)].logprob) best = static_cast<int>(c);
    }
    gold.push_back(item.gold);
    predicted.push_back(best);
    correct += best == item.gold ? 1 : 0;
  }
  EXPECT_DOUBLE_EQ(result->metrics[0].value, correct / 5.0);
  EXPECT_TRUE(result->metrics[0].standard_error.has_value());
  EXPECT_DOUBLE_EQ(result->metrics[1].value, *MacroF1(gold, predicted));
}

TEST_F(BatteryNewSuitesTest, TaskGoldLabelOutsideOptions) {
  const std::string dir = tmp_.file("bad");
  std::filesystem::create_directories(dir);
  Write(dir + "/config.json", R"({"name": "bad", "options": ["yes", "no"], "instruction": "",
    "demonstration_prompt": "{text} {label}", "inference_prompt": "{text}"})");
  Write(dir + "/test.jsonl", "{\"text\": \"a\", \"label\": \"yes\"}\n{\"text\": \"b\", \"label\": \"maybe\"}\n");
  SuiteSpec spec;
  spec.kind = SuiteKind::kTask;
  spec.data = dir;
  const absl::Status status = RunSuite(*model_, *tokenizer_, spec).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), absl::StrCat(dir, "/test.jsonl:2: label 'maybe' is not one of the options [yes, no]"));
}

TEST_F(BatteryNewSuitesTest, LongContextStructureAndScores) {
  const std::string haystack = tmp_.file("haystack.txt");
  Write(haystack,
        "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n");
  SuiteSpec spec;
  spec.kind = SuiteKind::kLongContext;
  spec.data = haystack;
  spec.context_lengths = {200, 512};  // 512 is capped at the fixture's window of 256.
  spec.depths = {0.0, 1.0};
  spec.samples = 2;
  spec.seed = 7;
  int64_t last_done = 0, last_total = 0;
  SuiteRunOptions options;
  options.progress = [&](int64_t done, int64_t total) {
    last_done = done;
    last_total = total;
  };
  absl::StatusOr<SuiteResult> result = RunSuite(*model_, *tokenizer_, spec, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->name, "long_context");
  EXPECT_EQ(result->items, 8);
  EXPECT_EQ(last_done, 8);
  EXPECT_EQ(last_total, 8);
  ASSERT_EQ(result->metrics.size(), 3u);
  EXPECT_EQ(result->metrics[0].name, "acc@200");
  EXPECT_EQ(result->metrics[1].name, "acc@256");
  EXPECT_EQ(result->metrics[2].name, "acc");
  ASSERT_EQ(result->subtasks.size(), 4u);
  EXPECT_EQ(result->subtasks[0].name, "long_context@200/depth=0");
  EXPECT_EQ(result->subtasks[3].name, "long_context@256/depth=1");

  // The same trials run by hand.
  absl::StatusOr<Haystack> h = SplitHaystack(
      "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
      "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n",
      "h");
  ASSERT_TRUE(h.ok());
  const TokenCounter count = [&](absl::string_view text) {
    return static_cast<int64_t>(tokenizer_->Encode(text, true).size());
  };
  double all = 0;
  size_t cell = 0;
  for (int64_t length : {200, 256}) {
    double at_length = 0;
    for (double depth : {0.0, 1.0}) {
      double hits = 0;
      for (const Needle& needle : MakeNeedles(7, 2)) {
        absl::StatusOr<FittedPrompt> fitted = FitNeedlePrompt(*h, length, depth, needle, count);
        ASSERT_TRUE(fitted.ok()) << fitted.status();
        EXPECT_LE(fitted->tokens, length);
        const std::vector<int32_t> ids = tokenizer_->Encode(fitted->prompt, true);
        absl::StatusOr<std::vector<int32_t>> generated =
            GreedyDecode(*model_, ids, 10, StopTokenIds(model_->config(), *tokenizer_));
        ASSERT_TRUE(generated.ok()) << generated.status();
        EXPECT_GE(generated->size(), 1u);
        EXPECT_LE(generated->size(), 10u);
        hits += StringMatchAll(ContinuationText(*tokenizer_, ids, *generated), {needle.value});
      }
      EXPECT_DOUBLE_EQ(Find(result->subtasks[cell++], "acc")->value, hits / 2);
      at_length += hits;
    }
    EXPECT_DOUBLE_EQ(Find(*result, absl::StrCat("acc@", length))->value, at_length / 4);
    all += at_length;
  }
  EXPECT_DOUBLE_EQ(Find(*result, "acc")->value, all / 8);
}

TEST_F(BatteryNewSuitesTest, LongContextRejectsBadSpecs) {
  const std::string haystack = tmp_.file("h.txt");
  Write(haystack, "some words\n");
  SuiteSpec spec;
  spec.kind = SuiteKind::kLongContext;
  spec.data = haystack;
  spec.depths = {1.5};
  EXPECT_EQ(RunSuite(*model_, *tokenizer_, spec).status().message(), "depth 1.5 is outside [0, 1]");
  spec.depths = {};
  spec.samples = 0;
  EXPECT_EQ(RunSuite(*model_, *tokenizer_, spec).status().message(), "samples must be >= 1, got 0");
  EXPECT_EQ(ParseSuiteKind("long_context").value(), SuiteKind::kLongContext);
  EXPECT_EQ(ParseSuiteKind("task").value(), SuiteKind::kTask);
  EXPECT_STREQ(SuiteName(SuiteKind::kLongContext), "long_context");
}

}  // namespace
}  // namespace ftd
