// RoPE frequency tables: theta^(-2i/D), linear scaling, and llama3 scaling against transformers'
// _compute_llama3_parameters restated here in double (high frequencies kept, low ones divided by factor,
// the band between interpolated), plus the cos/sin tables RopeForward reads.
#include "kernels/rope_tables.h"

#include <cmath>

#include "gtest/gtest.h"

namespace ftd {
namespace {

// Relative tolerance for fp32 values recomputed in double: a few ulps of fp32.
constexpr double kRel = 1e-6;

TEST(RopeTablesTest, DefaultIsThetaToTheMinusTwoIOverD) {
  absl::StatusOr<std::vector<float>> inv = ComputeRopeInvFreq(64, 10000.0, RopeFreqScaling{});
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_EQ(inv->size(), 32u);
  EXPECT_EQ((*inv)[0], 1.0f);
  for (int i = 0; i < 32; ++i) {
    const double want = std::pow(10000.0, -2.0 * i / 64.0);
    EXPECT_NEAR((*inv)[i], want, kRel * want) << i;
  }
}

TEST(RopeTablesTest, LinearDividesByFactor) {
  RopeFreqScaling linear{RopeFreqScaling::Type::kLinear, 4.0};
  absl::StatusOr<std::vector<float>> inv = ComputeRopeInvFreq(16, 10000.0, linear);
  absl::StatusOr<std::vector<float>> base = ComputeRopeInvFreq(16, 10000.0, RopeFreqScaling{});
  ASSERT_TRUE(inv.ok() && base.ok());
  for (size_t i = 0; i < inv->size(); ++i) EXPECT_EQ((*inv)[i], (*base)[i] / 4.0f) << i;
}

TEST(RopeTablesTest, Llama3MatchesTransformersFormula) {
  // Llama 3.1/3.2's rope_scaling: factor 8 (32 for 3.2), low 1, high 4, original 8192; theta 500000, D 128.
  for (double factor : {8.0, 32.0}) {
    RopeFreqScaling sc{RopeFreqScaling::Type::kLlama3, factor, 1.0, 4.0, 8192};
    absl::StatusOr<std::vector<float>> inv = ComputeRopeInvFreq(128, 500000.0, sc);
    ASSERT_TRUE(inv.ok()) << inv.status();
    int kept = 0, divided = 0, smoothed = 0;
    for (int i = 0; i < 64; ++i) {
      const double f = std::pow(500000.0, -2.0 * i / 128.0);
      const double wavelen = 2 * M_PI / f;
      double want;
      if (wavelen < 8192.0 / 4.0) {
        want = f, ++kept;
      } else if (wavelen > 8192.0 / 1.0) {
        want = f / factor, ++divided;
      } else {
        const double s = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
        want = (1 - s) * f / factor + s * f, ++smoothed;
      }
      EXPECT_NEAR((*inv)[i], want, 1e-5 * want) << "i=" << i << " factor=" << factor;
    }
    EXPECT_GT(kept, 0);
    EXPECT_GT(divided, 0);
    EXPECT_GT(smoothed, 0);
  }
}

TEST(RopeTablesTest, TablesAreCosSinOfPositionTimesFrequency) {
  absl::StatusOr<std::vector<float>> inv = ComputeRopeInvFreq(8, 10000.0, RopeFreqScaling{});
  ASSERT_TRUE(inv.ok());
  RopeTables t = ComputeRopeTables(*inv, 5);
  ASSERT_EQ(t.cos.size(), 20u);
  for (int64_t p = 0; p < 5; ++p) {
    for (int64_t i = 0; i < 4; ++i) {
      const double a = static_cast<double>((*inv)[i]) * p;
      EXPECT_NEAR(t.cos[p * 4 + i], std::cos(a), 1e-6);
      EXPECT_NEAR(t.sin[p * 4 + i], std::sin(a), 1e-6);
    }
  }
}

TEST(RopeTablesTest, BadParametersAreInvalidArgument) {
  EXPECT_EQ(ComputeRopeInvFreq(7, 10000.0, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeRopeInvFreq(8, 0.0, {}).status().code(), absl::StatusCode::kInvalidArgument);
  RopeFreqScaling bad{RopeFreqScaling::Type::kLlama3, 8.0, 4.0, 1.0, 8192};
  EXPECT_EQ(ComputeRopeInvFreq(8, 10000.0, bad).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ftd
