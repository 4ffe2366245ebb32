// The long-context suite's text side: seeded needles, the haystack pieces, where the needle goes (depth 0 at the
// start, 1 at the end, line starts only), the exact prompt, the fit to a token length with the tiny fixture
// tokenizer, and RULER's string_match_all.
#include "eval/suites/long_context.h"

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/tokenizer/tokenizer.h"

namespace ftd {
namespace {

constexpr char kText[] =
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n";

Haystack Split(absl::string_view text) {
  absl::StatusOr<Haystack> haystack = SplitHaystack(text, "h.txt");
  EXPECT_TRUE(haystack.ok()) << haystack.status();
  return haystack.ok() ? *haystack : Haystack{};
}

TEST(LongContextTest, NeedlesAreSeeded) {
  const std::vector<Needle> a = MakeNeedles(42, 5), b = MakeNeedles(42, 5), c = MakeNeedles(43, 5);
  ASSERT_EQ(a.size(), 5u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].key, b[i].key);
    EXPECT_EQ(a[i].value, b[i].value);
    EXPECT_EQ(a[i].value.size(), 7u) << a[i].value;
    EXPECT_TRUE(absl::StrContains(a[i].key, "-")) << a[i].key;
  }
  // A prefix of a longer run: the first needles do not depend on how many are drawn.
  const std::vector<Needle> longer = MakeNeedles(42, 8);
  EXPECT_EQ(longer[4].key, a[4].key);
  EXPECT_EQ(longer[4].value, a[4].value);
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) differs |= a[i].value != c[i].value;
  EXPECT_TRUE(differs);
}

TEST(LongContextTest, SentencesAndPrompt) {
  const Needle needle{"brave-falcon", "1234567"};
  EXPECT_EQ(NeedleSentence(needle), "The special magic number for brave-falcon is: 1234567.");
  EXPECT_EQ(NeedleQuestion(needle),
            "What is the special magic number for brave-falcon mentioned in the provided text? Answer: The special "
            "magic number for brave-falcon is:");
  const std::string text = "one two\nthree\nfour five\n";  // Line starts at 0, 8, 14, 24 (the end).
  EXPECT_EQ(NeedleOffset(text, 0.0), 0u);
  EXPECT_EQ(NeedleOffset(text, 1.0), text.size());
  EXPECT_EQ(NeedleOffset(text, 0.5), 14u);  // 12 bytes in: 14 is nearer than 8.
  EXPECT_EQ(NeedleOffset(text, 11.0 / 24.0), 8u);  // 11: equally near 8 and 14, the earlier wins.
  EXPECT_EQ(NeedlePrompt(text, 0.0, needle),
            "The special magic number for brave-falcon is: 1234567.\none two\nthree\nfour five\n" +
                NeedleQuestion(needle));
  EXPECT_EQ(NeedlePrompt(text, 1.0, needle),
            "one two\nthree\nfour five\nThe special magic number for brave-falcon is: 1234567.\n" +
                NeedleQuestion(needle));
  EXPECT_EQ(NeedlePrompt(text, 0.5, needle),
            "one two\nthree\nThe special magic number for brave-falcon is: 1234567.\nfour five\n" +
                NeedleQuestion(needle));
  EXPECT_EQ(NeedlePrompt("", 0.5, needle), NeedleSentence(needle) + "\n" + NeedleQuestion(needle));
}

TEST(LongContextTest, HaystackPiecesRepeatAndEndAtALine) {
  const Haystack h = Split("  alpha beta\n gamma");
  EXPECT_EQ(h.pieces, (std::vector<std::string>{"alpha ", "beta\n ", "gamma\n"}));
  EXPECT_EQ(HaystackText(h, 0), "");
  EXPECT_EQ(HaystackText(h, 1), "alpha\n");
  EXPECT_EQ(HaystackText(h, 2), "alpha beta\n");  // The trailing space goes; the "\n" before it ends the line.
  EXPECT_EQ(HaystackText(h, 3), "alpha beta\n gamma\n");
  EXPECT_EQ(HaystackText(h, 5), "alpha beta\n gamma\nalpha beta\n");  // Repeated from the start.
}

TEST(LongContextTest, HaystackErrors) {
  EXPECT_EQ(SplitHaystack(" \n\t", "h.txt").status().message(), "h.txt: no text for a haystack");
}

TEST(LongContextTest, StringMatchAll) {
  EXPECT_EQ(StringMatchAll(" 1234567.", {"1234567"}), 1.0);
  EXPECT_EQ(StringMatchAll(" 123456", {"1234567"}), 0.0);
  EXPECT_EQ(StringMatchAll("Brave-Falcon and 7", {"brave-falcon", "8"}), 0.5);
}

class LongContextTokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
        Tokenizer::FromDir(std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io/tiny_llama");
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = std::move(*tokenizer);
    count_ = [this](absl::string_view text) {
      return static_cast<int64_t>(tokenizer_->Encode(text, /*add_special_tokens=*/true).size());
    };
  }
  std::unique_ptr<Tokenizer> tokenizer_;
  TokenCounter count_;
};

TEST_F(LongContextTokenizerTest, FitsTheRequestedLength) {
  const Haystack h = Split(kText);  // Short: the fit repeats it.
  const Needle needle = MakeNeedles(42, 1)[0];
  for (int64_t length : {200, 256, 512, 1000}) {
    for (double depth : {0.0, 0.25, 0.5, 0.75, 1.0}) {
      absl::StatusOr<FittedPrompt> fitted = FitNeedlePrompt(h, length, depth, needle, count_);
      ASSERT_TRUE(fitted.ok()) << fitted.status();
      SCOPED_TRACE(absl::StrCat("length ", length, " depth ", depth));
      EXPECT_EQ(fitted->tokens, count_(fitted->prompt));
      EXPECT_LE(fitted->tokens, length);
      // Within the granularity: one more word no longer fits, and a word is a few tokens of this tokenizer.
      const std::string longer = NeedlePrompt(HaystackText(h, fitted->haystack_pieces + 1), depth, needle);
      EXPECT_GT(count_(longer), length);
      EXPECT_GE(fitted->tokens, length - 12);
      // The needle sits whole at a line start; depth 0 opens the prompt, depth 1 closes the haystack.
      EXPECT_EQ(fitted->prompt.substr(fitted->needle_offset, NeedleSentence(needle).size() + 1),
                NeedleSentence(needle) + "\n");
      if (depth == 0.0) {
        EXPECT_EQ(fitted->needle_offset, 0u);
      } else {
        EXPECT_EQ(fitted->prompt[fitted->needle_offset - 1], '\n');
      }
      if (depth == 1.0) {
        EXPECT_TRUE(absl::EndsWith(fitted->prompt, NeedleSentence(needle) + "\n" + NeedleQuestion(needle)));
      }
      EXPECT_TRUE(absl::EndsWith(fitted->prompt, "\n" + NeedleQuestion(needle)));
    }
  }
}

TEST_F(LongContextTokenizerTest, TooShortForTheQuestion) {
  const absl::Status status = FitNeedlePrompt(Split(kText), 20, 0.5, MakeNeedles(1, 1)[0], count_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "cannot hold the needle and question alone")) << status;
}

}  // namespace
}  // namespace ftd
