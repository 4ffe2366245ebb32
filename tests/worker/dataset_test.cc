// JSONL records -> ids and labels: text and prompt/completion, eos, truncation, a precise error for every kind of
// bad line, the loader's bad-line limit (lines skipped and reported with file and line number) and drops, and the
// rehearsal pool and its seeded draw. Chat records: dataset_chat_test.cc.
#include "worker/train/dataset.h"

#include <fstream>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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
      {R"({"txt": "x"})", "expected a \"text\" field, \"prompt\" and \"completion\" fields, or a \"messages\" list"},
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
  absl::StatusOr<std::vector<Example>> loaded = LoadJsonlDataset(path, *tokenizer_, {});  // Strict by default.
  EXPECT_EQ(loaded.status().message(), path + ": 1 of 3 lines are malformed (33.3%), more than "
                                              "max_bad_line_fraction 0; first: " + path +
                                              ":4: \"text\" must be a string, got array");

  std::ofstream(path, std::ios::trunc) << R"({"text": "one"})" << "\n" << R"({"prompt": "p", "completion": " c"})";
  loaded = LoadJsonlDataset(path, *tokenizer_, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->size(), 2u);

  std::ofstream(path, std::ios::trunc) << "\n  \n";
  EXPECT_EQ(LoadJsonlDataset(path, *tokenizer_, {}).status().message(), path + ": no records");
  EXPECT_EQ(LoadJsonlDataset(tmp.file("missing.jsonl"), *tokenizer_, {}).status().code(),
            absl::StatusCode::kNotFound);
}

// A file of `good` text lines with malformed lines at the given 1-based line numbers.
std::string WriteMixed(const TempDir& tmp, int lines, const std::map<int, std::string>& bad) {
  const std::string path = tmp.file("mixed.jsonl");
  std::ofstream out(path);
  for (int i = 1; i <= lines; ++i) {
    auto it = bad.find(i);
    out << (it != bad.end() ? it->second : absl::StrCat(R"({"text": "line )", i, R"("})")) << "\n";
  }
  return path;
}

TEST_F(DatasetTest, MalformedLinesAreSkippedAndReportedUpToTheLimit) {
  TempDir tmp("ftd_dataset");
  const std::string path = WriteMixed(tmp, 40, {{3, "{not json"}, {17, R"({"text": 1})"}});
  DatasetOptions options;
  options.max_bad_line_fraction = 0.05;  // 2 of 40 = 5%: at the limit, allowed.
  absl::StatusOr<LoadedDataset> loaded = LoadDataset(path, *tokenizer_, options);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->records, 40);
  EXPECT_EQ(loaded->examples.size(), 38u);
  EXPECT_EQ(loaded->dropped, 0);
  EXPECT_EQ(loaded->bad_lines, (std::vector<std::string>{path + ":3: not valid JSON",
                                                         path + ":17: \"text\" must be a string, got number"}));
  // The kept examples are the good lines, in file order.
  EXPECT_EQ(loaded->examples[2].input_ids, (*TokenizeRecord(R"({"text": "line 4"})", *tokenizer_, {})).input_ids);

  options.max_bad_line_fraction = 0.049;
  EXPECT_EQ(LoadDataset(path, *tokenizer_, options).status().message(),
            path + ": 2 of 40 lines are malformed (5%), more than max_bad_line_fraction 0.049; first: " + path +
                ":3: not valid JSON");
}

TEST_F(DatasetTest, TheLimitFailsTheLoadWithTheCount) {
  TempDir tmp("ftd_dataset");
  std::map<int, std::string> bad;
  for (int line : {3, 5, 8, 13, 21, 34, 35}) bad[line] = line == 3 ? "{not json" : R"({"prompt": "p"})";
  const std::string path = WriteMixed(tmp, 40, bad);
  DatasetOptions options;
  options.max_bad_line_fraction = 0.05;
  const absl::Status status = LoadDataset(path, *tokenizer_, options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), path + ": 7 of 40 lines are malformed (17.5%), more than max_bad_line_fraction "
                                     "0.05; first: " + path + ":3: not valid JSON");
  // 1 tolerates every malformed line, but a file with no good one still has nothing to train on.
  options.max_bad_line_fraction = 1;
  absl::StatusOr<LoadedDataset> loaded = LoadDataset(path, *tokenizer_, options);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->bad_lines.size(), 7u);
  options.max_bad_line_fraction = 1.5;
  EXPECT_EQ(LoadDataset(path, *tokenizer_, options).status().message(),
            "max_bad_line_fraction: must be in [0, 1], got 1.5");
}

TEST_F(DatasetTest, RecordsWithNothingToLearnAreDroppedNotMalformed) {
  TempDir tmp("ftd_dataset");
  const std::string path = tmp.file("short.jsonl");
  std::ofstream(path) << R"({"text": "a long enough line"})" << "\n"
                      << R"({"prompt": "a long prompt that fills the window", "completion": " x"})" << "\n";
  DatasetOptions options;
  options.sequence_len = 3;
  absl::StatusOr<LoadedDataset> loaded = LoadDataset(path, *tokenizer_, options);  // Strict, yet it loads.
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->records, 2);
  EXPECT_EQ(loaded->examples.size(), 1u);
  EXPECT_EQ(loaded->dropped, 1);
  EXPECT_TRUE(loaded->bad_lines.empty());
}

TEST(BadLineNotesTest, ListsTheFirstOnesThenCounts) {
  std::vector<std::string> bad;
  for (int i = 1; i <= 23; ++i) bad.push_back(absl::StrCat("d.jsonl:", i, ": not valid JSON"));
  std::vector<std::string> notes = BadLineNotes(bad);
  ASSERT_EQ(notes.size(), 21u);
  EXPECT_EQ(notes[0], "d.jsonl:1: not valid JSON");
  EXPECT_EQ(notes[19], "d.jsonl:20: not valid JSON");
  EXPECT_EQ(notes[20], "... and 3 more malformed lines");
  EXPECT_EQ(BadLineNotes(bad, 22).back(), "... and 1 more malformed line");
  EXPECT_EQ(BadLineNotes(bad, 23).size(), 23u);
  EXPECT_TRUE(BadLineNotes({}).empty());
}

// ---- Rehearsal ----

TEST(RehearsalCountTest, IsTheRatioOfTheMix) {
  EXPECT_EQ(*RehearsalCount(0.1, 90), 10);   // 10 of 100 sequences.
  EXPECT_EQ(*RehearsalCount(0.2, 40), 10);   // 0.25 * 40.
  EXPECT_EQ(*RehearsalCount(0.5, 7), 7);
  EXPECT_EQ(*RehearsalCount(0.1, 5), 1);     // 0.555... rounds to 1.
  EXPECT_EQ(*RehearsalCount(0.1, 4), 0);     // 0.444... rounds to 0.
  EXPECT_EQ(*RehearsalCount(0.2, 2), 1);     // 0.5: halves round away from zero.
  EXPECT_EQ(*RehearsalCount(0, 1000), 0);
  EXPECT_EQ(*RehearsalCount(0.3, 0), 0);
  EXPECT_EQ(RehearsalCount(1, 10).status().message(), "rehearsal.ratio: must be in [0, 1), got 1");
  EXPECT_EQ(RehearsalCount(-0.1, 10).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DatasetTest, RehearsalJsonlIsTextRecordsWithEveryTokenLabelled) {
  TempDir tmp("ftd_rehearsal");
  const std::string path = tmp.file("general.jsonl");
  std::ofstream(path) << R"({"text": "the cat sat"})" << "\n" << R"({"text": "on the mat"})" << "\n";
  absl::StatusOr<LoadedDataset> pool = LoadRehearsalPool(path, *tokenizer_, {});
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_EQ(pool->examples.size(), 2u);
  std::vector<int32_t> want = tokenizer_->Encode("on the mat", true);
  want.push_back(eos_);
  EXPECT_EQ(pool->examples[1].input_ids, want);
  EXPECT_EQ(pool->examples[1].labels, want);

  // Only text records: a prompt/completion line is malformed there (and strict options fail on it).
  std::ofstream(path, std::ios::app) << R"({"prompt": "p", "completion": "c"})" << "\n";
  EXPECT_NE(LoadRehearsalPool(path, *tokenizer_, {}).status().message().find(
                ":3: unknown keys \"completion\", \"prompt\" for a text record"),
            std::string::npos);
}

TEST_F(DatasetTest, RehearsalPlainTextIsCutIntoSequenceLenPieces) {
  TempDir tmp("ftd_rehearsal");
  const std::string path = tmp.file("general.txt");
  const std::string text = "It was the best of times, it was the worst of times, it was the age of wisdom.";
  std::ofstream(path) << text;
  std::vector<int32_t> ids = tokenizer_->Encode(text, true);
  ids.push_back(eos_);
  DatasetOptions options;
  options.sequence_len = 8;
  absl::StatusOr<LoadedDataset> pool = LoadRehearsalPool(path, *tokenizer_, options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  std::vector<int32_t> joined;
  for (const Example& e : pool->examples) {
    EXPECT_LE(e.input_ids.size(), 8u);
    EXPECT_GE(e.input_ids.size(), 2u);
    EXPECT_EQ(e.labels, e.input_ids);
    joined.insert(joined.end(), e.input_ids.begin(), e.input_ids.end());
  }
  // Consecutive pieces of the one tokenization; a last piece of one token is dropped.
  const size_t full_pieces = ids.size() / 8;
  const bool lone_tail = ids.size() % 8 == 1;
  EXPECT_EQ(pool->examples.size(), full_pieces + (ids.size() % 8 >= 2 ? 1 : 0));
  EXPECT_EQ(pool->dropped, lone_tail ? 1 : 0);
  EXPECT_EQ(joined, std::vector<int32_t>(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(joined.size())));
  for (size_t i = 1; i < pool->examples.size(); ++i) {
    EXPECT_EQ(pool->examples[i - 1].input_ids.size(), 8u) << "only the last piece may be short";
  }

  std::ofstream(path, std::ios::trunc) << "";
  EXPECT_EQ(LoadRehearsalPool(path, *tokenizer_, options).status().code(), absl::StatusCode::kInvalidArgument);
}

std::vector<Example> NumberedPool(int n) {
  std::vector<Example> pool;
  for (int i = 0; i < n; ++i) pool.push_back(Example{{i, i}, {i, i}});
  return pool;
}

std::vector<int32_t> Firsts(const std::vector<Example>& examples) {
  std::vector<int32_t> out;
  for (const Example& e : examples) out.push_back(e.input_ids[0]);
  return out;
}

TEST(DrawRehearsalTest, SeededDeterministicAndCycling) {
  const std::vector<Example> pool = NumberedPool(5);
  absl::StatusOr<std::vector<Example>> a = DrawRehearsal(pool, 3, 42);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(Firsts(*a), Firsts(*DrawRehearsal(pool, 3, 42)));  // Same seed, same draw.
  // The draw is a seeded permutation of the pool, taken in order: distinct while count <= pool size.
  const std::vector<int32_t> all = Firsts(*DrawRehearsal(pool, 5, 42));
  EXPECT_EQ(std::vector<int32_t>(all.begin(), all.begin() + 3), Firsts(*a));
  EXPECT_EQ(std::set<int32_t>(all.begin(), all.end()), (std::set<int32_t>{0, 1, 2, 3, 4}));
  // Pinned: one (pool, count, seed) names one draw on every platform (EpochOrder's own Fisher-Yates).
  EXPECT_EQ(all, (std::vector<int32_t>{0, 1, 3, 4, 2}));
  // Cycling: 12 from 5 is the permutation twice and its first 2 again.
  const std::vector<int32_t> twelve = Firsts(*DrawRehearsal(pool, 12, 42));
  ASSERT_EQ(twelve.size(), 12u);
  for (size_t k = 0; k < 12; ++k) EXPECT_EQ(twelve[k], all[k % 5]) << k;
  // Another seed, another order (for this pool and these seeds).
  bool differs = false;
  for (uint64_t seed = 1; seed < 5 && !differs; ++seed) differs = Firsts(*DrawRehearsal(pool, 5, seed)) != all;
  EXPECT_TRUE(differs);
  // Labels travel with the ids.
  for (const Example& e : *a) EXPECT_EQ(e.labels, e.input_ids);

  EXPECT_TRUE(DrawRehearsal({}, 0, 1)->empty());
  EXPECT_EQ(DrawRehearsal({}, 3, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DrawRehearsal(pool, -1, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ftd
