// The DropoutMask op's contract beyond the op harness's reference match: Philox4x32-10 itself against
// Random123's known answers, the statistics of the mask (drop rate p, kept value 1/(1-p)), and determinism
// (same seed and stream: same mask; another stream or seed: an independent one).
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/kernels.h"
#include "kernels/philox.h"

namespace ftd {
namespace {

// Random123's tests/kat_vectors, the three "philox4x32 10" lines: counter, key -> output.
TEST(PhiloxTest, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(Philox4x32({0, 0, 0, 0}, {0, 0}), (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(Philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(Philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
  static_assert(Philox4x32({0, 0, 0, 0}, {0, 0})[0] == 0x6627e8d5, "usable at compile time");
}

std::vector<float> Mask(uint64_t seed, uint64_t stream, float p, int64_t n) {
  Backend& be = **GetBackend("cpu");
  std::vector<float> host(static_cast<size_t>(n));
  float* dev = static_cast<float*>(*be.Allocate(n * 4));
  EXPECT_TRUE(be.DropoutMask(seed, stream, p, dev, n).ok());
  EXPECT_TRUE(be.CopyToHost(host.data(), dev, n * 4).ok());
  EXPECT_TRUE(be.Free(dev).ok());
  return host;
}

TEST(DropoutMaskTest, DropsAFractionPAndScalesTheRestByOneOverOneMinusP) {
  constexpr int64_t kN = 1 << 20;
  for (float p : {0.05f, 0.1f, 0.5f, 0.9f}) {
    const std::vector<float> mask = Mask(1234, 5, p, kN);
    const float keep = 1.0f / (1.0f - p);
    int64_t dropped = 0, other = 0;
    for (float m : mask) {
      if (m == 0.0f) {
        ++dropped;
      } else if (m != keep) {
        ++other;
      }
    }
    EXPECT_EQ(other, 0) << "p=" << p << ": kept entries must equal 1/(1-p) = " << keep;
    // The dropped count is Binomial(n, p): 5 standard deviations fail a correct generator ~1 run in 1.7 million.
    const double sigma = std::sqrt(p * (1.0 - p) / kN);
    EXPECT_NEAR(static_cast<double>(dropped) / kN, p, 5 * sigma) << "p=" << p;
  }
}

TEST(DropoutMaskTest, ZeroPKeepsEverything) {
  EXPECT_EQ(Mask(9, 9, 0.0f, 1001), std::vector<float>(1001, 1.0f));
}

TEST(DropoutMaskTest, SameSeedAndStreamGiveTheSameMaskForAnyLength) {
  const std::vector<float> a = Mask(77, 2, 0.3f, 4099);
  EXPECT_EQ(a, Mask(77, 2, 0.3f, 4099));
  const std::vector<float> prefix = Mask(77, 2, 0.3f, 13);
  EXPECT_EQ(prefix, std::vector<float>(a.begin(), a.begin() + 13));
}

// Another stream (or seed) is an independent mask: both-dropped happens at rate p^2, not p.
TEST(DropoutMaskTest, OtherStreamsAndSeedsAreIndependent) {
  constexpr int64_t kN = 1 << 18;
  constexpr float kP = 0.5f;
  const std::vector<float> base = Mask(77, 2, kP, kN);
  for (const auto& [seed, stream] : {std::pair<uint64_t, uint64_t>{77, 3}, {78, 2}, {77, 2ULL << 32}}) {
    const std::vector<float> other = Mask(seed, stream, kP, kN);
    int64_t both = 0;
    for (int64_t i = 0; i < kN; ++i) both += base[i] == 0.0f && other[i] == 0.0f;
    const double q = kP * kP, sigma = std::sqrt(q * (1 - q) / kN);
    EXPECT_NEAR(static_cast<double>(both) / kN, q, 5 * sigma) << "seed " << seed << " stream " << stream;
  }
}

TEST(DropoutMaskTest, RejectsPOutsideZeroToOne) {
  Backend& be = **GetBackend("cpu");
  float mask[4];
  for (float p : {1.0f, -0.1f, 1.5f, NAN}) {
    const absl::Status s = be.DropoutMask(1, 1, p, mask, 4);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << p;
    EXPECT_NE(s.message().find("dropout_mask: p="), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace ftd
