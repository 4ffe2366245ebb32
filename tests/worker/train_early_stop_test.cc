// The general-perplexity guardrail end to end (issue 5, "done when" 5), with `ftd-worker train` processes on a real
// pretrained model (stories260K, trained on children's stories; skipped where ../shared/data is absent): full
// fine-tuning at a high learning rate on legal paragraphs (a domain shift) drives the perplexity of held-out
// children's stories past baseline x 1.1 and ends EARLY_STOPPED, and the model it writes is the pre-spike best
// checkpoint (its general perplexity is the best eval's); LoRA at a sane rate on the same data does not stop.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/kernels.h"
#include "model/file_io.h"
#include "model/hf_model.h"
#include "model/llama/llama_model.h"
#include "model/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "worker/train/guardrail_eval.h"

namespace ftd {
namespace {

using json = nlohmann::json;

const std::string kLegal =
    std::string(FTD_SOURCE_DIR) + "/../shared/data/tasks/function_of_decision_section/train_0.jsonl";

// Held-out general text in the model's own domain, written for this test.
const char* const kStories[] = {
    "Once upon a time, there was a little girl named Lily. She liked to play in the park with her red ball. One day "
    "the ball rolled away. Lily ran after it and found a small dog. The dog was happy to see her. They played "
    "together all day.",
    "Tom had a big box of toys. He wanted to share them with his friend Sam. Sam came over and they built a tall "
    "tower with the blocks. Then the tower fell down and they laughed. Mom gave them a snack and they were happy.",
    "There was a little bird who lived in a tree. Every morning the bird sang a song. One day it was very cold and "
    "the bird was sad. A kind girl gave the bird some bread. The bird sang a happy song for the girl.",
    "Ben and his mom went to the store. Ben saw a shiny car toy and he wanted it very much. Mom said he could have "
    "it if he was good. Ben helped mom carry the bags. Mom smiled and gave him the toy car.",
    "One day, a cat named Kitty found a big puddle. She did not like water, so she jumped over it. But she slipped "
    "and fell in the puddle. Kitty was wet and sad. Her friend the dog helped her get dry in the sun.",
    "Sue liked to draw pictures. She drew a big sun, a house and a tree. She showed the picture to her dad. Dad "
    "said it was the best picture he had ever seen. Sue was proud and put it on the wall.",
    "A little frog lived near a pond. He wanted to jump as high as the moon. Every day he practiced jumping. He "
    "never jumped to the moon, but he became the best jumper in the pond. All his friends cheered for him.",
    "Anna had a teddy bear named Bobo. She took Bobo everywhere she went. One night she could not find Bobo. She "
    "looked under the bed and found him there. Anna hugged Bobo and went to sleep with a smile.",
};

class TrainEarlyStopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> model = ImportStories260K(tmp_);
    if (!model.ok()) GTEST_SKIP() << model.status();
    if (!std::ifstream(kLegal)) GTEST_SKIP() << kLegal << " is absent (shared data)";
    model_ = *model;
    std::ofstream general(tmp_.file("general.jsonl"));
    for (const char* story : kStories) general << json{{"text", story}}.dump() << "\n";
    std::ifstream in(kLegal);
    std::ofstream legal(tmp_.file("legal.jsonl"));
    std::string line;
    for (int n = 0; n < 120 && std::getline(in, line); ++n) {
      legal << json{{"text", json::parse(line)["paragraph"]}}.dump() << "\n";
    }
  }

  // Runs one `ftd-worker train` process; returns its result.json.
  json Train(const std::string& name, const std::string& settings) {
    const std::string job = tmp_.file(name + ".yaml"), out = tmp_.file(name);
    std::ofstream(job) << "base_model: " << model_ << "\ndatasets:\n  - path: " << tmp_.file("legal.jsonl")
                       << "\nval_set_size: 0.1\nsequence_len: 128\nmicro_batch_size: 4\nlr_scheduler: constant\n"
                          "eval_steps: 2\nseed: 3\nearly_stopping:\n  general_eval_dataset: "
                       << tmp_.file("general.jsonl") << "\n  general_ppl_max_rise: 0.1\n  patience: 2\n"
                       << settings;
    const pid_t pid = SpawnCommand({FTD_WORKER_BIN, "train", job, "--output", out}, tmp_.file(name + ".out"),
                                   tmp_.file(name + ".err"));
    EXPECT_EQ(ExitCode(pid), 0) << *ReadFileToString(tmp_.file(name + ".err"));
    std::printf("%s\n", ReadFileToString(tmp_.file(name + ".out"))->c_str());
    absl::StatusOr<std::string> result = ReadFileToString(out + "/result.json");
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? json::parse(*result) : json::object();
  }

  // The general perplexity of a model directory, measured as the guardrail measures it.
  double GeneralPerplexity(const std::string& dir) {
    absl::StatusOr<HfModel> hf = LoadHfModel(dir);
    EXPECT_TRUE(hf.ok()) << hf.status();
    absl::StatusOr<std::unique_ptr<LlamaModel>> model = LlamaModel::Load(*hf, *GetBackend("cpu"));
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromDir(dir);
    EXPECT_TRUE(model.ok() && tokenizer.ok());
    absl::StatusOr<GeneralEvalSet> set = LoadGeneralEvalSet(tmp_.file("general.jsonl"), **tokenizer, 128);
    EXPECT_TRUE(set.ok()) << set.status();
    absl::StatusOr<NllSum> nll = GeneralNll(**model, *set, 0, 1);
    EXPECT_TRUE(nll.ok()) << nll.status();
    return std::exp(nll->nll / static_cast<double>(nll->tokens));
  }

  TempDir tmp_;
  std::string model_;
};

TEST_F(TrainEarlyStopTest, FullFineTuningAtAHighRateStopsWithThePreSpikeCheckpoint) {
  const json result = Train("full", "method: full\nlearning_rate: 5e-4\nmax_steps: 80\n");
  ASSERT_EQ(result["state"], "EARLY_STOPPED") << result.dump(2);
  const json& evals = result["evals"];
  const double limit = evals[0]["general_ppl"].get<double>() * 1.1;
  // The last two evals are over the limit (patience 2), the best is within it and earlier than both.
  const size_t n = evals.size();
  ASSERT_GE(n, 3u);
  EXPECT_GT(evals[n - 1]["general_ppl"].get<double>(), limit);
  EXPECT_GT(evals[n - 2]["general_ppl"].get<double>(), limit);
  const json& best = result["best"];
  EXPECT_LE(best["general_ppl"].get<double>(), limit);
  EXPECT_LT(best["step"].get<int64_t>(), evals[n - 2]["step"].get<int64_t>());
  EXPECT_LT(result["steps"].get<int64_t>(), 80);
  for (const json& e : evals) {
    if (e["general_ppl"].get<double>() <= limit) {
      EXPECT_GE(e["task_val_loss"].get<double>(), best["task_val_loss"].get<double>()) << e.dump();
    }
  }
  // The model written is the best checkpoint's, not the last step's.
  const double written = GeneralPerplexity(tmp_.file("full"));
  EXPECT_NEAR(written, best["general_ppl"].get<double>(), 1e-6 * written);
}

TEST_F(TrainEarlyStopTest, LoraAtASaneRateDoesNotStop) {
  const json result = Train("lora", "method: lora\nlora_r: 8\nlearning_rate: 1e-4\nmax_steps: 24\n");
  EXPECT_EQ(result["state"], "SUCCEEDED") << result.dump(2);
  EXPECT_EQ(result["steps"], 24);
  const double limit = result["evals"][0]["general_ppl"].get<double>() * 1.1;
  for (const json& e : result["evals"]) EXPECT_LE(e["general_ppl"].get<double>(), limit) << e.dump();
}

}  // namespace
}  // namespace ftd
