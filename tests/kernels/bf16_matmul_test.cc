// The bf16 linear ops (Bf16Matmul, Bf16MatmulBackward) on the CPU backend against "widen W to fp32 whole, then the
// fp32 Matmul / MatmulBackward": random x, dy and bf16 W, M = 1 and larger, odd sizes, forced small tiles (the
// shared tile loop of kernels/cpu/frozen_matmul.h), beta and accumulate. One tile is compared bit for bit; several
// tiles up to summation order (see frozen_matmul.h for why). Also: bad arguments are INVALID_ARGUMENT naming the op,
// and a backend without the ops says UNIMPLEMENTED.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/bf16_weight.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/kernels.h"
#include "tests/kernels/frozen_matmul_testing.h"

namespace ftd {
namespace {

using frozen_testing::ExpectEqualsDenseMatmul;
using frozen_testing::kShapes;
using frozen_testing::kTol;
using frozen_testing::Random;
using frozen_testing::Shape;

// A random W (out, in) held as bf16 bits, and the same values widened to fp32 (the reference's W).
struct Bf16Matrix {
  std::vector<uint16_t> bits;    // (out, in)
  std::vector<float> reference;  // (out, in)
  Bf16Weight view;
};

Bf16Matrix MakeWeight(int64_t out, int64_t in, std::mt19937_64& rng) {
  Bf16Matrix w;
  const std::vector<float> values = Random(out * in, rng, 0.02f);  // (out, in), a linear layer's scale
  w.bits.resize(values.size());
  w.reference.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    // Truncation, not rounding: any upper half of a finite fp32 is a bf16 weight, and the reference only needs the
    // value the bits stand for.
    uint32_t u;
    std::memcpy(&u, &values[i], sizeof(u));
    w.bits[i] = static_cast<uint16_t>(u >> 16);
    u &= 0xFFFF0000u;
    std::memcpy(&w.reference[i], &u, sizeof(u));
  }
  w.view = Bf16Weight{w.bits.data(), out, in};
  return w;
}

// Through the CPU backend (default tiles) and through the kernels with small tiles, for several shapes.
TEST(Bf16MatmulTest, EqualsWidenThenMatmul) {
  absl::StatusOr<Backend*> be = GetBackend("cpu");
  ASSERT_TRUE(be.ok()) << be.status();
  std::mt19937_64 rng(11);
  double worst = 0.0;  // over the several-tile runs
  const int64_t tiles[] = {cpu::kBf16TileFloats, 100, 1};  // 100: a few rows/columns a tile; 1: one row/column
  for (const Shape& s : kShapes) {
    const Bf16Matrix w = MakeWeight(s.out, s.in, rng);
    const auto forward = [&](int64_t tile, int64_t m, float alpha, const float* x, float beta, float* y) {
      return tile == cpu::kBf16TileFloats ? (*be)->Bf16Matmul(w.view, m, alpha, x, beta, y)
                                          : cpu::Bf16MatmulCpu(w.view, m, alpha, x, beta, y, tile);
    };
    const auto backward = [&](int64_t tile, int64_t m, float alpha, const float* dy, float* dx, GradMode mode) {
      return tile == cpu::kBf16TileFloats ? (*be)->Bf16MatmulBackward(w.view, m, alpha, dy, dx, mode)
                                          : cpu::Bf16MatmulBackwardCpu(w.view, m, alpha, dy, dx, mode, tile);
    };
    worst = std::max(worst, ExpectEqualsDenseMatmul(**be, s, w.reference, rng, tiles, forward, backward));
  }
  std::printf("several tiles: largest error %.2e of the terms' magnitude (tolerance %.0e)\n", worst, kTol);
}

TEST(Bf16MatmulArgsTest, RejectsBadShapesAndNullPointers) {
  absl::StatusOr<Backend*> be = GetBackend("cpu");
  ASSERT_TRUE(be.ok()) << be.status();
  const uint16_t bits[4] = {};
  float buf[4] = {};
  const absl::Status zero_in = (*be)->Bf16Matmul(Bf16Weight{bits, 2, 0}, 1, 1.0f, buf, 0.0f, buf);
  EXPECT_EQ(zero_in.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(zero_in.message(), "bf16_matmul: in must be >= 1 (shape m=1, out=2, in=0)");
  const absl::Status zero_m =
      (*be)->Bf16MatmulBackward(Bf16Weight{bits, 2, 2}, 0, 1.0f, buf, buf, GradMode::kOverwrite);
  EXPECT_EQ(zero_m.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(zero_m.message(), "bf16_matmul_backward: m must be >= 1 (shape m=0, out=2, in=2)");
  const absl::Status no_bits = (*be)->Bf16Matmul(Bf16Weight{nullptr, 2, 2}, 1, 1.0f, buf, 0.0f, buf);
  EXPECT_EQ(no_bits.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(no_bits.message(), "bf16_matmul: w.bits is null");
  const absl::Status no_dx =
      (*be)->Bf16MatmulBackward(Bf16Weight{bits, 2, 2}, 1, 1.0f, buf, nullptr, GradMode::kAccumulate);
  EXPECT_EQ(no_dx.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(no_dx.message(), "bf16_matmul_backward: dx is null");
}

// A backend that implements memory only: the bf16 ops are UNIMPLEMENTED by name.
class BareBackend final : public Backend {
 public:
  absl::string_view name() const override { return "bare"; }
  absl::StatusOr<void*> Allocate(int64_t) override { return absl::UnimplementedError("no memory"); }
  absl::Status Free(void*) override { return absl::OkStatus(); }
  absl::Status CopyToDevice(void*, const void*, int64_t) override { return absl::OkStatus(); }
  absl::Status CopyToHost(void*, const void*, int64_t) override { return absl::OkStatus(); }
  absl::Status Memset(void*, int, int64_t) override { return absl::OkStatus(); }
};

TEST(Bf16MatmulArgsTest, BaseBackendReportsUnimplemented) {
  BareBackend bare;
  const uint16_t bits[4] = {};
  float buf[4] = {};
  const Bf16Weight w{bits, 2, 2};
  const absl::Status fwd = bare.Bf16Matmul(w, 1, 1.0f, buf, 0.0f, buf);
  EXPECT_EQ(fwd.code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(fwd.message(), "bf16_matmul not supported by bare");
  const absl::Status bwd = bare.Bf16MatmulBackward(w, 1, 1.0f, buf, buf, GradMode::kAccumulate);
  EXPECT_EQ(bwd.code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(bwd.message(), "bf16_matmul_backward not supported by bare");
}

}  // namespace
}  // namespace ftd
