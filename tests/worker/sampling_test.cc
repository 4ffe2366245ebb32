// Token choice: greedy is argmax; temperature and top-p give HF's warped distribution (checked exactly), and
// draws with a fixed seed follow it.
#include "worker/sampling.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ftd {
namespace {

// Logits whose softmax is {0.5, 0.3, 0.15, 0.05}.
std::vector<float> FourWay() {
  return {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
}

TEST(SamplingTest, GreedyIsTheFirstArgmax) {
  const std::vector<float> logits = {0.1f, 2.5f, -1.0f, 2.5f, 0.0f};
  EXPECT_EQ(Argmax(logits), 1);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(SampleToken(logits, SamplingOptions{0.0, 0.5}, rng), 1);
}

TEST(SamplingTest, TemperatureAndTopPGiveHfsDistribution) {
  const std::vector<float> logits = FourWay();
  // top_p 1: the plain softmax.
  std::vector<double> p = SamplingProbabilities(logits, SamplingOptions{1.0, 1.0});
  const std::vector<double> softmax = {0.5, 0.3, 0.15, 0.05};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(p[i], softmax[i], 1e-6) << i;
  // Ascending cumulative sums 0.05, 0.2, 0.5, 1: top_p 0.7 removes those <= 0.3 (0.05 and 0.15), top_p 0.9 those
  // <= 0.1 (0.05 only); what stays is renormalised.
  p = SamplingProbabilities(logits, SamplingOptions{1.0, 0.7});
  EXPECT_NEAR(p[0], 0.625, 1e-6);
  EXPECT_NEAR(p[1], 0.375, 1e-6);
  EXPECT_EQ(p[2], 0.0);
  EXPECT_EQ(p[3], 0.0);
  p = SamplingProbabilities(logits, SamplingOptions{1.0, 0.9});
  EXPECT_NEAR(p[2], 0.15 / 0.95, 1e-6);
  EXPECT_EQ(p[3], 0.0);
  // Temperature 2 takes square roots of the probabilities before normalising.
  p = SamplingProbabilities(logits, SamplingOptions{2.0, 1.0});
  double z = 0.0;
  for (double s : softmax) z += std::sqrt(s);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(p[i], std::sqrt(softmax[i]) / z, 1e-6) << i;
}

TEST(SamplingTest, TinyTopPKeepsOnlyTheTopToken) {
  const std::vector<float> logits = {0.3f, 0.2f, 0.31f, 0.1f};  // Nearly flat: anything else would show up.
  const SamplingOptions options{1.0, 1e-6};
  const std::vector<double> p = SamplingProbabilities(logits, options);
  EXPECT_EQ(p, (std::vector<double>{0.0, 0.0, 1.0, 0.0}));
  std::mt19937_64 rng(3);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(SampleToken(logits, options, rng), 2);
}

// Draw frequencies against the distribution. With N = 200000 draws a frequency's standard deviation is at most
// sqrt(0.25 / N) = 0.0011; the bound 0.006 is over 5 of them, so a correct sampler cannot fail it (and the seed is
// fixed anyway), while a sampler that ignores the temperature or top-p misses by 0.03 or more.
TEST(SamplingTest, DrawsFollowTheDistribution) {
  constexpr int kDraws = 200000;
  const std::vector<float> logits = FourWay();
  for (const SamplingOptions& options : {SamplingOptions{1.0, 0.9}, SamplingOptions{2.0, 1.0},
                                         SamplingOptions{0.5, 0.7}}) {
    const std::vector<double> p = SamplingProbabilities(logits, options);
    std::vector<int> counts(4, 0);
    std::mt19937_64 rng(20240611);
    for (int i = 0; i < kDraws; ++i) ++counts[SampleToken(logits, options, rng)];
    for (int i = 0; i < 4; ++i) {
      EXPECT_NEAR(static_cast<double>(counts[i]) / kDraws, p[i], 0.006)
          << "T=" << options.temperature << " top_p=" << options.top_p << " token " << i;
      if (p[i] == 0.0) {
        EXPECT_EQ(counts[i], 0) << "a removed token was drawn";
      }
    }
  }
}

TEST(SamplingTest, TheSeedFixesTheDraws) {
  const std::vector<float> logits = {0.0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f};
  auto draws = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<int32_t> out;
    for (int i = 0; i < 32; ++i) out.push_back(SampleToken(logits, SamplingOptions{1.0, 1.0}, rng));
    return out;
  };
  EXPECT_EQ(draws(5), draws(5));
  EXPECT_NE(draws(5), draws(6));
}

TEST(SamplingTest, InvalidOptionsAreRejected) {
  EXPECT_TRUE(ValidateSampling(SamplingOptions{}).ok());
  EXPECT_TRUE(ValidateSampling(SamplingOptions{0.7, 0.95}).ok());
  EXPECT_EQ(ValidateSampling(SamplingOptions{-0.5, 1.0}).message(),
            "temperature must be a finite number >= 0 (0: greedy), got -0.5");
  EXPECT_EQ(ValidateSampling(SamplingOptions{INFINITY, 1.0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateSampling(SamplingOptions{NAN, 1.0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateSampling(SamplingOptions{1.0, 0.0}).message(), "top_p must be in (0, 1], got 0");
  EXPECT_EQ(ValidateSampling(SamplingOptions{1.0, 1.5}).message(), "top_p must be in (0, 1], got 1.5");
  EXPECT_EQ(ValidateSampling(SamplingOptions{1.0, NAN}).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ftd
