// JSONL records -> ids and labels: text and prompt/completion, eos, truncation, and a precise error for every
// kind of bad line (with its file and line number).
#include "worker/train/dataset.h"

#include <fstream>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

const std::string kTokenizerDir = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io/tiny_llama";

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromDir(kTokenizerDir);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = *std::move(tokenizer);
    eos_ = *tokenizer_->TokenToId("<|end_of_text|>");
  }
  std::unique_ptr<Tokenizer> tokenizer_;
  int32_t eos_ = -1;
};

TEST_F(DatasetTest, TextTrainsOnEveryTokenAndEndsWithEos) {
  absl::StatusOr<Example> e = TokenizeRecord(R"({"text": "hello world"})", *tokenizer_, {});
  ASSERT_TRUE(e.ok()) << e.status();
  std::vector<int32_t> want = tokenizer_->Encode("hello world", true);
  want.push_back(eos_);
  EXPECT_EQ(e->input_ids, want);
  EXPECT_EQ(e->labels, want);
}

TEST_F(DatasetTest, PromptTokensAreMaskedOutOfTheLoss) {
  absl::StatusOr<Example> e =
      TokenizeRecord(R"({"prompt": "Q: two plus two?", "completion": " A: four"})", *tokenizer_, {});
  ASSERT_TRUE(e.ok()) << e.status();
  const std::vector<int32_t> prompt = tokenizer_->Encode("Q: two plus two?", true);
  const std::vector<int32_t> completion = tokenizer_->Encode(" A: four", false);
  ASSERT_EQ(e->input_ids.size(), prompt.size() + completion.size() + 1);
  for (size_t i = 0; i < e->labels.size(); ++i) {
    if (i < prompt.size()) {
      EXPECT_EQ(e->labels[i], kIgnoreIndex) << i;
    } else {
      EXPECT_EQ(e->labels[i], e->input_ids[i]) << i;
    }
  }
  EXPECT_EQ(e->input_ids.back(), eos_);
}

TEST_F(DatasetTest, TruncatesToSequenceLen) {
  DatasetOptions options;
  options.sequence_len = 5;
  absl::StatusOr<Example> e = TokenizeRecord(R"({"text": "a fairly long line of text for five tokens"})",
                                             *tokenizer_, options);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->input_ids.size(), 5u);
  EXPECT_EQ(e->labels.size(), 5u);
  options.append_eos = false;
  options.sequence_len = 100;
  e = TokenizeRecord(R"({"text": "hi"})", *tokenizer_, options);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->input_ids, tokenizer_->Encode("hi", true));
}

TEST_F(DatasetTest, BadRecordsSayWhy) {
  struct Case {
    const char* line;
    const char* message;
  };
  DatasetOptions short_seq;
  short_seq.sequence_len = 3;
  const Case cases[] = {
      {"{not json", "not valid JSON"},
      {"[1, 2]", "expected an object, got array"},
      {R"({"txt": "x"})", "expected a \"text\" field or \"prompt\" and \"completion\" fields"},
      {R"({"text": 7})", "\"text\" must be a string, got number"},
      {R"({"text": "a", "prompt": "b", "completion": "c"})",
       "has both \"text\" and \"prompt\"/\"completion\": which one to train on?"},
      {R"({"prompt": "b"})", "missing \"completion\""},
      {R"({"prompt": "b", "completion": ""})", "\"completion\" has no tokens: nothing to learn"},
      {R"({"text": "a", "source": "web"})", "unknown keys \"source\" for a text record"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Example> e = TokenizeRecord(c.line, *tokenizer_, {});
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << c.line;
    EXPECT_EQ(e.status().message(), c.message) << c.line;
  }
  absl::StatusOr<Example> e =
      TokenizeRecord(R"({"prompt": "a long prompt that fills it", "completion": " x"})", *tokenizer_, short_seq);
  EXPECT_EQ(e.status().message(), "no token to train on after truncation to sequence_len 3 (the prompt fills it)");
}

TEST_F(DatasetTest, FileErrorsNameTheLine) {
  TempDir tmp("ftd_dataset");
  const std::string path = tmp.file("train.jsonl");
  std::ofstream(path) << R"({"text": "one"})" << "\n\n" << R"({"prompt": "two", "completion": " 2"})" << "\n"
                      << R"({"text": ["three"]})" << "\n";
  absl::StatusOr<std::vector<Example>> loaded = LoadJsonlDataset(path, *tokenizer_, {});
  EXPECT_EQ(loaded.status().message(), path + ":4: \"text\" must be a string, got array");

  std::ofstream(path, std::ios::trunc) << R"({"text": "one"})" << "\n" << R"({"prompt": "p", "completion": " c"})";
  loaded = LoadJsonlDataset(path, *tokenizer_, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->size(), 2u);

  std::ofstream(path, std::ios::trunc) << "\n  \n";
  EXPECT_EQ(LoadJsonlDataset(path, *tokenizer_, {}).status().message(), path + ": no records");
  EXPECT_EQ(LoadJsonlDataset(tmp.file("missing.jsonl"), *tokenizer_, {}).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ftd
