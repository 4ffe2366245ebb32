// Parity with lm-evaluation-harness 0.4.13 (done-when 1 of the benchmark issue): the requests rebuilt from
// ../shared/data by eval/suites hash to the strings lm-eval scored, ScoreChoices / ScoreRolling on the tiny_llama
// fixture give its per-item loglikelihoods to 1e-4 relative, and eval/suites' scoring reproduces its metrics and
// stderrs from them; the task suite's exact_match (sst2, 0 and 2 shots, lm-eval's generate_until) matches per
// item (the prompt's hash, the kept context, the generated token ids, the response and its stripped form, the
// score) and in its metric and stderr, directly and through RunSuite. Reference:
// tests/fixtures/eval/battery_tiny_llama.json (gen_eval.py; layout in tests/fixtures/README.md). Skips where
// ../shared/data (or, for HellaSwag, the bzip2 tool) is absent.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "common/text_file.h"
#include "eval/battery.h"
#include "eval/choice_scorer.h"
#include "eval/greedy_decode.h"
#include "eval/loglikelihood.h"
#include "eval/loglikelihood_request.h"
#include "eval/suites/hellaswag.h"
#include "eval/suites/mmlu.h"
#include "eval/suites/perplexity.h"
#include "eval/suites/piqa.h"
#include "eval/suites/python_text.h"
#include "eval/suites/scores.h"
#include "eval/suites/task.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"

namespace ftd {
namespace {

using json = nlohmann::json;

const std::string kData = std::string(FTD_SOURCE_DIR) + "/../shared/data";
constexpr double kRelative = 1e-4;  // The parity bound on loglikelihoods.

#define SKIP_WITHOUT(path)                                                               \
  if (!std::filesystem::exists(path)) {                                                  \
    GTEST_SKIP() << (path) << " is absent (../shared/data is optional; see its README)"; \
  }

std::string Hash(const std::string& text) { return Sha256Hex(text).substr(0, 12); }

class BatteryParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(FixturePath("eval/battery_tiny_llama.json"));
    ASSERT_TRUE(in) << "missing fixture battery_tiny_llama.json";
    fixture_ = json::parse(in);
    model_ = LoadFixtureModel("tiny_llama");
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromDir(FixturePath("model_io/tiny_llama"));
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = *std::move(tokenizer);
    max_length_ = fixture_["settings"]["max_length"].get<int64_t>();
  }

  // Scores `items` against the fixture task `name`: hashes, loglikelihoods, then the task's metrics.
  void CheckMultipleChoice(const std::string& name, const std::vector<MultipleChoiceItem>& all_items) {
    const json& task = fixture_["tasks"][name];
    std::vector<MultipleChoiceItem> items;
    std::vector<std::vector<ChoiceLoglikelihood>> lls;
    for (const json& expected : task["items"]) {
      const MultipleChoiceItem& item = all_items.at(expected["doc"].get<size_t>());
      items.push_back(item);
      const std::vector<TextRequest> texts = Requests(item);
      ASSERT_EQ(texts.size(), expected["ll"].size()) << name;
      EXPECT_EQ(Hash(item.context), expected["ctx_sha"]) << name << " doc " << expected["doc"] << " context";
      EXPECT_EQ(item.gold, expected["gold"].get<int>()) << name << " doc " << expected["doc"];
      std::vector<TokenRequest> requests;
      for (size_t c = 0; c < texts.size(); ++c) {
        EXPECT_EQ(Hash(texts[c].continuation), expected["cont_sha"][c]) << name << " doc " << expected["doc"];
        absl::StatusOr<TokenRequest> request =
            EncodeLoglikelihoodRequest(*tokenizer_, texts[c].context, texts[c].continuation);
        ASSERT_TRUE(request.ok()) << request.status();
        EXPECT_EQ(static_cast<int64_t>(request->context.size()), expected["n_ctx_tokens"][c].get<int64_t>());
        EXPECT_EQ(static_cast<int64_t>(request->continuation.size()), expected["n_cont_tokens"][c].get<int64_t>());
        requests.push_back(*std::move(request));
      }
      absl::StatusOr<std::vector<LoglikelihoodResult>> scored = ScoreChoices(*model_, requests, max_length_);
      ASSERT_TRUE(scored.ok()) << scored.status();
      std::vector<ChoiceLoglikelihood>& item_lls = lls.emplace_back();
      for (size_t c = 0; c < scored->size(); ++c) {
        const double want = expected["ll"][c].get<double>();
        EXPECT_NEAR((*scored)[c].logprob, want, kRelative * std::abs(want))
            << name << " doc " << expected["doc"] << " choice " << c;
        EXPECT_EQ((*scored)[c].is_greedy, expected["is_greedy"][c].get<bool>());
        // The metrics below are computed from lm-eval's own loglikelihoods, so they test the scoring rule exactly.
        item_lls.push_back({want, expected["is_greedy"][c].get<bool>()});
      }
    }
    absl::StatusOr<MultipleChoiceScores> scores = ScoreMultipleChoice(items, lls);
    ASSERT_TRUE(scores.ok()) << scores.status();
    const json& metrics = task["metrics"];
    EXPECT_NEAR(scores->acc.mean, metrics["acc"].get<double>(), 1e-12) << name;
    ASSERT_TRUE(scores->acc.standard_error.has_value());
    EXPECT_NEAR(*scores->acc.standard_error, metrics["acc_stderr"].get<double>(), 1e-12) << name;
    if (metrics.contains("acc_norm")) {
      EXPECT_NEAR(scores->acc_norm.mean, metrics["acc_norm"].get<double>(), 1e-12) << name;
      EXPECT_NEAR(*scores->acc_norm.standard_error, metrics["acc_norm_stderr"].get<double>(), 1e-12) << name;
    }
    subtask_scores_[name] = scores->acc;
  }

  json fixture_;
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  int64_t max_length_ = 0;
  std::map<std::string, MeanStderr> subtask_scores_;
};

TEST_F(BatteryParityTest, Mmlu) {
  SKIP_WITHOUT(kData + "/mmlu/test");
  for (const char* shots : {"0shot", "2shot"}) {
    const std::string group = std::string("mmlu_") + shots;
    std::vector<MeanStderr> subtasks;
    for (const json& task_name : fixture_["groups"][group]["tasks"]) {
      const std::string name = task_name.get<std::string>();
      const json& task = fixture_["tasks"][name];
      const std::string subject = name.substr(group.size() + 1);
      absl::StatusOr<std::vector<MmluQuestion>> dev = LoadMmluSubject(kData + "/mmlu", subject, "dev");
      absl::StatusOr<std::vector<MmluQuestion>> test = LoadMmluSubject(kData + "/mmlu", subject, "test");
      ASSERT_TRUE(dev.ok() && test.ok()) << subject;
      absl::StatusOr<std::vector<MultipleChoiceItem>> items =
          BuildMmluItems(subject, *dev, *test, task["num_fewshot"].get<int>());
      ASSERT_TRUE(items.ok()) << items.status();
      CheckMultipleChoice(name, *items);
      subtasks.push_back(subtask_scores_[name]);
    }
    absl::StatusOr<MeanStderr> grouped = GroupScore(subtasks);
    ASSERT_TRUE(grouped.ok()) << grouped.status();
    EXPECT_NEAR(grouped->mean, fixture_["groups"][group]["acc"].get<double>(), 1e-12) << group;
    ASSERT_TRUE(grouped->standard_error.has_value());
    EXPECT_NEAR(*grouped->standard_error, fixture_["groups"][group]["acc_stderr"].get<double>(), 1e-12) << group;
  }
}

TEST_F(BatteryParityTest, HellaSwagSixLineForm) {
  const std::string bz2 = kData + "/hellaswag/hellaswag_val_full.txt.bz2";
  SKIP_WITHOUT(bz2);
  if (std::system("command -v bzip2 >/dev/null 2>&1") != 0) GTEST_SKIP() << "the bzip2 tool is absent";
  const std::filesystem::path text =
      std::filesystem::temp_directory_path() / ("ftd_battery_hellaswag_" + std::to_string(::getpid()) + ".txt");
  ASSERT_EQ(std::system(("bzip2 -dc '" + bz2 + "' > '" + text.string() + "'").c_str()), 0);
  absl::StatusOr<std::vector<MultipleChoiceItem>> items = LoadHellaSwagText(text.string());
  std::filesystem::remove(text);
  ASSERT_TRUE(items.ok()) << items.status();
  CheckMultipleChoice("hellaswag", *items);
}

TEST_F(BatteryParityTest, Piqa) {
  SKIP_WITHOUT(kData + "/piqa/valid.jsonl");
  absl::StatusOr<std::vector<MultipleChoiceItem>> items =
      LoadPiqa(kData + "/piqa/valid.jsonl", kData + "/piqa/valid-labels.lst");
  ASSERT_TRUE(items.ok()) << items.status();
  CheckMultipleChoice("piqa", *items);
}

TEST_F(BatteryParityTest, WikiTextPerplexity) {
  const std::string path = kData + "/text/wikitext-2-raw-test.txt";
  SKIP_WITHOUT(path);
  absl::StatusOr<std::string> raw = ReadTextFile(path);
  ASSERT_TRUE(raw.ok()) << raw.status();
  const std::vector<PerplexityDocument> documents = WikiTextDocuments(*raw);
  absl::StatusOr<int32_t> prefix = PrefixTokenId(*tokenizer_);
  ASSERT_TRUE(prefix.ok()) << prefix.status();
  const json& task = fixture_["tasks"]["wikitext"];
  std::vector<PerplexityDocument> scored_docs;
  std::vector<double> expected_lls;
  for (const json& page : task["pages"]) {
    const PerplexityDocument& document = documents.at(page["doc"].get<size_t>());
    EXPECT_EQ(Hash(document.text), page["target_sha"]) << "page " << page["doc"];
    EXPECT_EQ(document.words, page["words"].get<int64_t>()) << "page " << page["doc"];
    EXPECT_EQ(document.bytes, page["bytes"].get<int64_t>()) << "page " << page["doc"];
    absl::StatusOr<std::vector<int32_t>> tokens = LmEvalEncode(*tokenizer_, document.text);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    EXPECT_EQ(static_cast<int64_t>(tokens->size()), page["tokens"].get<int64_t>());
    absl::StatusOr<LoglikelihoodResult> rolling = ScoreRolling(*model_, *tokens, *prefix, max_length_);
    ASSERT_TRUE(rolling.ok()) << rolling.status();
    const double want = page["loglikelihood"].get<double>();
    EXPECT_NEAR(rolling->logprob, want, kRelative * std::abs(want)) << "page " << page["doc"];
    scored_docs.push_back(document);
    expected_lls.push_back(want);
  }
  absl::StatusOr<std::vector<DocumentLoglikelihood>> docs = WithLoglikelihoods(scored_docs, expected_lls);
  ASSERT_TRUE(docs.ok()) << docs.status();
  absl::StatusOr<PerplexityScores> scores = ScorePerplexity(*docs);
  ASSERT_TRUE(scores.ok()) << scores.status();
  const json& metrics = task["metrics"];
  EXPECT_NEAR(scores->word_perplexity, metrics["word_perplexity"].get<double>(),
              1e-9 * metrics["word_perplexity"].get<double>());
  EXPECT_NEAR(scores->byte_perplexity, metrics["byte_perplexity"].get<double>(), 1e-9);
  EXPECT_NEAR(scores->bits_per_byte, metrics["bits_per_byte"].get<double>(), 1e-9);
}

TEST_F(BatteryParityTest, TaskExactMatch) {
  const std::string dir = kData + "/tasks/sst2";
  SKIP_WITHOUT(dir + "/test.jsonl");
  absl::StatusOr<LoadedTask> loaded = LoadTask(dir, 0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const auto count = [this](absl::string_view text) {
    return static_cast<int64_t>(tokenizer_->Encode(text, /*add_special_tokens=*/false).size());
  };
  const int64_t budget = TaskGenerationBudget(TaskAnswers(*loaded), count);
  ASSERT_TRUE(fixture_.contains("task_exact_match")) << "regenerate the fixture (gen_eval.py)";
  for (const auto& [name, task] : fixture_["task_exact_match"].items()) {
    const int shots = task["num_fewshot"].get<int>();
    EXPECT_EQ(budget, task["max_gen_toks"].get<int64_t>()) << name;
    EXPECT_EQ(task["until"], json::array({kTaskStopSequence})) << name;
    absl::StatusOr<LoadedTask> shot_task = LoadTask(dir, shots);
    ASSERT_TRUE(shot_task.ok()) << shot_task.status();
    std::vector<double> scores;
    for (const json& expected : task["items"]) {
      const size_t doc = expected["doc"].get<size_t>();
      const std::string where = name + " doc " + std::to_string(doc);
      const TaskGenerationItem& item = shot_task->generations.at(doc);
      EXPECT_EQ(Hash(item.prompt), expected["ctx_sha"]) << where;
      EXPECT_EQ(item.target, loaded->config.options.at(expected["gold"].get<size_t>())) << where;
      absl::StatusOr<GenerateUntilResult> generated =
          GenerateUntil(*model_, *tokenizer_, item.prompt, {kTaskStopSequence}, budget, max_length_);
      ASSERT_TRUE(generated.ok()) << generated.status();
      absl::StatusOr<std::vector<int32_t>> full = LmEvalEncode(*tokenizer_, item.prompt);
      ASSERT_TRUE(full.ok()) << full.status();
      EXPECT_EQ(static_cast<int64_t>(full->size()), expected["n_ctx_tokens"].get<int64_t>()) << where;
      EXPECT_EQ(static_cast<int64_t>(generated->context.size()), expected["n_ctx_tokens_kept"].get<int64_t>())
          << where;
      EXPECT_EQ(generated->generated, expected["gen_ids"].get<std::vector<int32_t>>()) << where;
      EXPECT_EQ(Hash(generated->text), expected["resp_sha"]) << where;
      EXPECT_EQ(PythonLength(generated->text), expected["resp_chars"].get<int64_t>()) << where;
      EXPECT_EQ(Hash(std::string(PythonStrip(generated->text))), expected["filtered_sha"]) << where;
      const double score = TaskExactMatch(generated->text, item.target);
      EXPECT_EQ(score, expected["exact_match"].get<double>()) << where;
      scores.push_back(score);
    }
    const MeanStderr mean = MeanWithStderr(scores);
    const double want = task["metrics"]["exact_match"].get<double>();
    const double want_stderr = task["metrics"]["exact_match_stderr"].get<double>();
    EXPECT_NEAR(mean.mean, want, kRelative * std::abs(want)) << name;
    ASSERT_TRUE(mean.standard_error.has_value());
    EXPECT_NEAR(*mean.standard_error, want_stderr, kRelative * std::abs(want_stderr)) << name;

    // The battery's own path over the same items.
    SuiteSpec spec;
    spec.kind = SuiteKind::kTask;
    spec.data = dir;
    spec.num_fewshot = shots;
    spec.limit = task["n"].get<int64_t>();
    SuiteRunOptions options;
    options.max_length = max_length_;
    absl::StatusOr<SuiteResult> result = RunSuite(*model_, *tokenizer_, spec, options);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->metrics.size(), 3u);
    const SuiteMetric& exact_match = result->metrics[2];
    EXPECT_EQ(exact_match.name, "exact_match");
    EXPECT_NEAR(exact_match.value, want, kRelative * std::abs(want)) << name;
    ASSERT_TRUE(exact_match.standard_error.has_value());
    EXPECT_NEAR(*exact_match.standard_error, want_stderr, kRelative * std::abs(want_stderr)) << name;
  }
}

}  // namespace
}  // namespace ftd
