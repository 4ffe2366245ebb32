// Scores as lm_eval 0.4.13 computes them. Expected stderrs are lm_eval.api.metrics' own mean_stderr and
// pooled_sample_stderr, run once under /opt/fixture-venv/bin/python and pasted; the 3-subtask pooled value is
// also worked by hand in its comment.
#include "eval/suites/scores.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace ftd {
namespace {

std::vector<ChoiceLoglikelihood> Lls(std::vector<double> v) {
  std::vector<ChoiceLoglikelihood> out;
  for (double x : v) out.push_back({x, false});
  return out;
}

TEST(ScoresTest, AccAndAccNormDivideByChoiceCharacters) {
  // Choice lengths 1 and 8: raw argmax picks 0, per-character argmax picks 1 (-4/8 > -1/1).
  const MultipleChoiceItem item{"ctx", {"a", "abcdefgh"}, 1};
  absl::StatusOr<ItemScore> s = ScoreItem(item, Lls({-1.0, -4.0}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->acc, 0.0);
  EXPECT_EQ(s->acc_norm, 1.0);
}

TEST(ScoresTest, AccNormCountsCodePointsNotBytesNorTheDelimiter) {
  // "xyzzy" is 5 characters and 5 bytes, "éééé" 4 characters and 8 bytes. Per character: -6/5 = -1.2 beats
  // -5/4 = -1.25, so choice 0; per byte it would be choice 1 (-5/8).
  const MultipleChoiceItem item{"ctx", {"xyzzy", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"}, 1};
  EXPECT_EQ(ScoreItem(item, Lls({-6.0, -5.0}))->acc_norm, 0.0);
  // Without the delimiter: -2/2 = -1 vs -3.9/4 = -0.975, choice 1; counting " " it would be -0.667 vs -0.78.
  const MultipleChoiceItem item2{"ctx", {"ab", "abcd"}, 1};
  EXPECT_EQ(ScoreItem(item2, Lls({-2.0, -3.9}))->acc_norm, 1.0);
}

TEST(ScoresTest, TiesGoToTheFirstChoiceAndNanWins) {
  const MultipleChoiceItem item{"ctx", {"a", "b", "c"}, 1};
  EXPECT_EQ(ScoreItem(item, Lls({-1.0, -1.0, -2.0}))->acc, 0.0);
  EXPECT_EQ(ScoreItem(item, Lls({-1.0, std::numeric_limits<double>::quiet_NaN(), 0.0}))->acc, 1.0);
  EXPECT_EQ(ScoreItem(item, Lls({-1.0})).status().message(), "score: 1 loglikelihoods for 3 choices");
}

TEST(ScoresTest, MeanStderrIsSampleStdOverSqrtN) {
  const MeanStderr m = MeanWithStderr({1, 0, 1, 1, 0});
  EXPECT_DOUBLE_EQ(m.mean, 0.6);
  ASSERT_TRUE(m.standard_error.has_value());
  EXPECT_NEAR(*m.standard_error, 0.24494897427831783, 1e-15);    // lm_eval mean_stderr([1,0,1,1,0]).
  EXPECT_FALSE(MeanWithStderr({1}).standard_error.has_value());  // lm-eval's "N/A".
}

TEST(ScoresTest, MultipleChoiceTask) {
  const std::vector<MultipleChoiceItem> items = {{"c", {"a", "bb"}, 0}, {"c", {"a", "bb"}, 1}};
  absl::StatusOr<MultipleChoiceScores> s = ScoreMultipleChoice(items, {Lls({-1, -3}), Lls({-1, -1.5})});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->acc.mean, 0.5);
  EXPECT_DOUBLE_EQ(s->acc_norm.mean, 1.0);  // -3/2 < -1 keeps item 0 right; -1.5/2 > -1 fixes item 1.
  EXPECT_NEAR(*s->acc.standard_error, 0.5, 1e-15);
  EXPECT_EQ(ScoreMultipleChoice(items, {Lls({-1, -3})}).status().message(), "score: 1 results for 2 items");
}

TEST(ScoresTest, PooledSampleStderrMatchesLmEval) {
  // (99*0.05^2*100 + 199*0.04^2*200 + 29*0.1^2*30) / (330 - 3) / 330 = 97.13 / 327 / 330, sqrt -> 0.0300017.
  absl::StatusOr<double> p = PooledSampleStderr({0.05, 0.04, 0.1}, {100, 200, 30});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_NEAR(*p, 0.030001698898548805, 1e-15);
  EXPECT_FALSE(PooledSampleStderr({0.1}, {1}).ok());
}

TEST(ScoresTest, MmluGroupIsTheMicroAverageWithPooledStderr) {
  absl::StatusOr<MeanStderr> g = GroupScore({MeanWithStderr({1, 0, 1, 1, 0}), MeanWithStderr({0, 0, 1})});
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_DOUBLE_EQ(g->mean, 0.5);  // 4 right of 8 items, not the mean of 0.6 and 0.333.
  EXPECT_EQ(g->n, 8);
  // lm_eval pooled_sample_stderr([mean_stderr(a), mean_stderr(b)], [5, 3]).
  EXPECT_NEAR(*g->standard_error, 0.19720265943665388, 1e-15);
  MeanStderr no_stderr{1.0, std::nullopt, 1};
  EXPECT_FALSE(GroupScore({MeanWithStderr({1, 0}), no_stderr})->standard_error.has_value());
}

TEST(ScoresTest, PerplexityFromTotals) {
  absl::StatusOr<PerplexityScores> p = ScorePerplexity({{-10, 5, 20}, {-30, 15, 60}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_DOUBLE_EQ(p->word_perplexity, std::exp(40.0 / 20));
  EXPECT_DOUBLE_EQ(p->byte_perplexity, std::exp(40.0 / 80));
  EXPECT_DOUBLE_EQ(p->bits_per_byte, 0.5 / std::log(2.0));
  // Both documents have the same per-word and per-byte rate, so every resample gives the same value.
  EXPECT_NEAR(*p->bits_per_byte_stderr, 0, 1e-12);
  EXPECT_FALSE(ScorePerplexity({}).ok());
  EXPECT_FALSE(ScorePerplexity({{-1, 1, 2}})->bits_per_byte_stderr.has_value());
}

TEST(ScoresTest, PerplexityBootstrapIsSeededAndAgreesWithTheDeltaMethod) {
  // 400 documents with varied rates; the delta-method stderr of sum(ll)/sum(bytes) is the reference.
  std::vector<DocumentLoglikelihood> docs;
  for (int i = 0; i < 400; ++i) {
    const int64_t bytes = 100 + (i * 37) % 300;
    docs.push_back({-static_cast<double>(bytes) * (0.8 + 0.4 * ((i * 13) % 17) / 16.0), bytes / 5, bytes});
  }
  double ll = 0, b = 0;
  for (const auto& d : docs) ll += d.logprob, b += static_cast<double>(d.bytes);
  const double ratio = ll / b, mean_b = b / docs.size();
  double ss = 0;
  for (const auto& d : docs) ss += std::pow(d.logprob - ratio * d.bytes, 2);
  const double delta_bpb = std::sqrt(ss / (docs.size() - 1) / docs.size()) / mean_b / std::log(2.0);

  const PerplexityScores a = *ScorePerplexity(docs, {1000, 1234});
  const PerplexityScores again = *ScorePerplexity(docs, {1000, 1234});
  const PerplexityScores other = *ScorePerplexity(docs, {1000, 99});
  EXPECT_EQ(*a.bits_per_byte_stderr, *again.bits_per_byte_stderr);
  EXPECT_NE(*a.bits_per_byte_stderr, *other.bits_per_byte_stderr);
  EXPECT_NEAR(*a.bits_per_byte_stderr / delta_bpb, 1.0, 0.1);
  EXPECT_NEAR(*a.byte_perplexity_stderr / (delta_bpb * std::log(2.0) * a.byte_perplexity), 1.0, 0.1);
}

TEST(ScoresTest, WithLoglikelihoodsPairsDocuments) {
  const std::vector<PerplexityDocument> docs = {PlainTextDocument("a b"), PlainTextDocument("c")};
  absl::StatusOr<std::vector<DocumentLoglikelihood>> d = WithLoglikelihoods(docs, {-1, -2});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)[0].words, 2);
  EXPECT_EQ((*d)[1].bytes, 1);
  EXPECT_FALSE(WithLoglikelihoods(docs, {-1}).ok());
}

}  // namespace
}  // namespace ftd
