// `ftd-worker eval` end to end on the tiny fixture model: on small files written here (always), the PIQA-layout
// accuracy equals each item's argmax of ScoreRequest; on ../shared/data (skipped where absent) its MMLU, PIQA and
// WikiText numbers equal lm-eval's own for the same subsets (tests/fixtures/eval/battery_tiny_llama.json); bad
// input names its cause.
#include "worker/eval_command.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "eval/loglikelihood.h"
#include "eval/loglikelihood_request.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"
#include "tests/testing/temp_dir.h"
#include "worker/inference_model.h"

namespace ftd {
namespace {

using json = nlohmann::json;

const std::string kData = std::string(FTD_SOURCE_DIR) + "/../shared/data";

json RunEval(EvalCommandOptions options) {
  options.model_dir = FixturePath("model_io/tiny_llama");
  options.json = true;
  std::ostringstream out, progress;
  const absl::Status status = RunEvalCommand(options, out, progress);
  EXPECT_TRUE(status.ok()) << status;
  return status.ok() ? json::parse(out.str()) : json();
}

json Battery() {
  std::ifstream in(FixturePath("eval/battery_tiny_llama.json"));
  return json::parse(in);
}

TEST(EvalCommandTest, PiqaLayoutAccuracyIsTheArgmaxOfEachItem) {
  TempDir tmp("ftd_eval");
  const std::string goals[] = {"Open a jar", "Dry wet hands", "Cut paper"};
  {
    std::ofstream jsonl(tmp.file("valid.jsonl"));
    for (const std::string& goal : goals) {
      jsonl << json{{"goal", goal}, {"sol1", "use a towel"}, {"sol2", "twist the lid"}}.dump() << "\n";
    }
    std::ofstream labels(tmp.file("valid-labels.lst"));
    labels << "1\n0\n1\n";
  }
  EvalCommandOptions options;
  options.suite = "piqa";
  options.spec.data = tmp.file("valid.jsonl");
  const json result = RunEval(options);
  ASSERT_TRUE(result.is_object());
  EXPECT_EQ(result["suite"], "piqa");
  EXPECT_EQ(result["items"], 3);

  absl::StatusOr<InferenceModel> loaded = LoadInferenceModel(FixturePath("model_io/tiny_llama"), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const int gold[] = {1, 0, 1};
  double correct = 0;
  for (int i = 0; i < 3; ++i) {
    double best = -1e300;
    int argmax = 0;
    int c = 0;
    for (const char* sol : {" use a towel", " twist the lid"}) {
      absl::StatusOr<TokenRequest> request =
          EncodeLoglikelihoodRequest(*loaded->tokenizer, "Question: " + goals[i] + "\nAnswer:", sol);
      ASSERT_TRUE(request.ok()) << request.status();
      absl::StatusOr<LoglikelihoodResult> r =
          ScoreRequest(*loaded->model, *request, loaded->model->config().max_position_embeddings);
      ASSERT_TRUE(r.ok()) << r.status();
      if (r->logprob > best) {
        best = r->logprob;
        argmax = c;
      }
      ++c;
    }
    correct += argmax == gold[i] ? 1 : 0;
  }
  EXPECT_DOUBLE_EQ(result["metrics"]["acc"]["value"].get<double>(), correct / 3);
  EXPECT_TRUE(result["metrics"]["acc"]["stderr"].is_number());
  EXPECT_TRUE(result["metrics"].contains("acc_norm"));
}

TEST(EvalCommandTest, BadInputNamesTheCause) {
  EvalCommandOptions options;
  options.model_dir = FixturePath("model_io/tiny_llama");
  options.suite = "trivia";
  options.spec.data = "/nonexistent";
  std::ostringstream out, progress;
  absl::Status status = RunEvalCommand(options, out, progress);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("trivia"), absl::string_view::npos) << status;

  options.suite = "piqa";
  options.spec.data = "/nonexistent/valid.jsonl";
  status = RunEvalCommand(options, out, progress);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("/nonexistent/valid.jsonl"), absl::string_view::npos) << status;
}

TEST(EvalCommandTest, ReproducesLmEvalOnTheSharedData) {
  if (!std::filesystem::exists(kData + "/mmlu/test")) {
    GTEST_SKIP() << kData << " is absent (../shared/data is optional; see its README)";
  }
  const json battery = Battery();
  const int64_t max_length = battery["settings"]["max_length"].get<int64_t>();

  EvalCommandOptions mmlu;
  mmlu.suite = "mmlu";
  mmlu.spec.data = kData + "/mmlu";
  mmlu.spec.subjects = {"abstract_algebra", "anatomy"};
  mmlu.spec.limit = 10;
  mmlu.max_length = max_length;
  for (int shots : {0, 2}) {
    mmlu.spec.num_fewshot = shots;
    const json result = RunEval(mmlu);
    const json& group = battery["groups"][shots == 0 ? "mmlu_0shot" : "mmlu_2shot"];
    EXPECT_EQ(result["items"], 20);
    EXPECT_NEAR(result["metrics"]["acc"]["value"].get<double>(), group["acc"].get<double>(), 1e-12) << shots;
    EXPECT_NEAR(result["metrics"]["acc"]["stderr"].get<double>(), group["acc_stderr"].get<double>(), 1e-12);
  }

  EvalCommandOptions piqa;
  piqa.suite = "piqa";
  piqa.spec.data = kData + "/piqa/valid.jsonl";
  piqa.spec.limit = 20;
  piqa.max_length = max_length;
  const json piqa_result = RunEval(piqa);
  const json& piqa_metrics = battery["tasks"]["piqa"]["metrics"];
  for (const char* metric : {"acc", "acc_norm"}) {
    EXPECT_NEAR(piqa_result["metrics"][metric]["value"].get<double>(), piqa_metrics[metric].get<double>(), 1e-12);
  }

  EvalCommandOptions wikitext;
  wikitext.suite = "perplexity";
  wikitext.spec.data = kData + "/text/wikitext-2-raw-test.txt";
  wikitext.spec.limit = 3;
  wikitext.max_length = max_length;
  const json wiki = RunEval(wikitext);
  const json& wiki_metrics = battery["tasks"]["wikitext"]["metrics"];
  EXPECT_EQ(wiki["suite"], "wikitext");
  EXPECT_NEAR(wiki["metrics"]["bits_per_byte"]["value"].get<double>(), wiki_metrics["bits_per_byte"].get<double>(),
              1e-4 * wiki_metrics["bits_per_byte"].get<double>());
  EXPECT_NEAR(wiki["metrics"]["byte_perplexity"]["value"].get<double>(),
              wiki_metrics["byte_perplexity"].get<double>(), 1e-3 * wiki_metrics["byte_perplexity"].get<double>());
  // lm-eval reports no stderr for perplexities; ftd's bootstrap gives one.
  EXPECT_TRUE(wiki["metrics"]["bits_per_byte"]["stderr"].is_number());
}

}  // namespace
}  // namespace ftd
