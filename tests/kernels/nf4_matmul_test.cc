// The NF4 linear ops (Nf4Matmul, Nf4MatmulBackward) against "dequantise W whole with model/quant, then the fp32
// Matmul / MatmulBackward": random x, dy and W quantised with QuantizeNf4 (fp32 absmax and double quantisation),
// M = 1 and larger, `in` off a multiple of 64 (rows sharing blocks), forced small tiles that cut blocks and bytes,
// beta and accumulate. The comparison is exact (bit for bit); see kernels/cpu/nf4_matmul.cc for why it can be.
// Also: the kernel's code table equals model/quant's, and a backend without the ops says UNIMPLEMENTED.
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
#include "kernels/cpu/cpu_ops.h"
#include "kernels/kernels.h"
#include "kernels/nf4_weight.h"
#include "model/quant/nf4.h"
#include "tests/kernels/frozen_matmul_testing.h"

namespace ftd {
namespace {

using frozen_testing::ExpectEqualsDenseMatmul;
using frozen_testing::kShapes;
using frozen_testing::kTol;
using frozen_testing::Random;
using frozen_testing::Shape;

// A random W (out, in) quantised as the model loader will hold it: packed codes plus the restored fp32 absmax.
struct QuantizedWeight {
  Nf4Tensor tensor;
  std::vector<float> absmax;     // (blocks) Nf4BlockAbsmax(tensor)
  std::vector<float> reference;  // (out, in) DequantizeNf4(tensor)
  Nf4Weight view;
};

QuantizedWeight MakeWeight(int64_t out, int64_t in, Nf4Statistics statistics, std::mt19937_64& rng) {
  QuantizedWeight w;
  const std::vector<float> values = Random(out * in, rng, 0.02f);  // (out, in), a linear layer's scale
  absl::StatusOr<Nf4Tensor> t = QuantizeNf4(values, statistics);
  EXPECT_TRUE(t.ok()) << t.status();
  w.tensor = *std::move(t);
  absl::StatusOr<std::vector<float>> absmax = Nf4BlockAbsmax(w.tensor);
  EXPECT_TRUE(absmax.ok()) << absmax.status();
  w.absmax = *std::move(absmax);
  w.reference.resize(values.size());
  EXPECT_TRUE(DequantizeNf4(w.tensor, absl::MakeSpan(w.reference)).ok());
  w.view = Nf4Weight{w.tensor.packed.data(), w.absmax.data(), out, in};
  return w;
}

TEST(Nf4WeightTest, CodeTableMatchesModelQuant) {
  for (int c = 0; c < 16; ++c) EXPECT_EQ(kNf4WeightCode[c], Nf4Code()[c]) << "code " << c;
  EXPECT_EQ(kNf4WeightBlockSize, kNf4BlockSize);
}


class Nf4MatmulTest : public ::testing::TestWithParam<Nf4Statistics> {};

// Through the CPU backend (default tiles) and through the kernels with small tiles, for several shapes.
TEST_P(Nf4MatmulTest, EqualsDequantizeThenMatmul) {
  absl::StatusOr<Backend*> be = GetBackend("cpu");
  ASSERT_TRUE(be.ok()) << be.status();
  std::mt19937_64 rng(7);
  double worst = 0.0;  // over the several-tile runs
  const int64_t tiles[] = {cpu::kNf4TileFloats, 100, 1};  // 100: boundaries inside blocks and bytes; 1: one row/column
  for (const Shape& s : kShapes) {
    const QuantizedWeight w = MakeWeight(s.out, s.in, GetParam(), rng);
    const auto forward = [&](int64_t tile, int64_t m, float alpha, const float* x, float beta, float* y) {
      return tile == cpu::kNf4TileFloats ? (*be)->Nf4Matmul(w.view, m, alpha, x, beta, y)
                                         : cpu::Nf4MatmulCpu(w.view, m, alpha, x, beta, y, tile);
    };
    const auto backward = [&](int64_t tile, int64_t m, float alpha, const float* dy, float* dx, GradMode mode) {
      return tile == cpu::kNf4TileFloats ? (*be)->Nf4MatmulBackward(w.view, m, alpha, dy, dx, mode)
                                         : cpu::Nf4MatmulBackwardCpu(w.view, m, alpha, dy, dx, mode, tile);
    };
    worst = std::max(worst, ExpectEqualsDenseMatmul(**be, s, w.reference, rng, tiles, forward, backward));
  }
  std::printf("several tiles: largest error %.2e of the terms' magnitude (tolerance %.0e)\n", worst, kTol);
}

INSTANTIATE_TEST_SUITE_P(Statistics, Nf4MatmulTest,
                         ::testing::Values(Nf4Statistics::kFp32Absmax, Nf4Statistics::kDoubleQuant),
                         [](const auto& info) {
                           return info.param == Nf4Statistics::kFp32Absmax ? "Fp32Absmax" : "DoubleQuant";
                         });

TEST(Nf4MatmulArgsTest, RejectsBadShapesAndNullPointers) {
  absl::StatusOr<Backend*> be = GetBackend("cpu");
  ASSERT_TRUE(be.ok()) << be.status();
  const uint8_t packed[2] = {};
  const float absmax[1] = {1.0f};
  float buf[4] = {};
  const absl::Status zero_in = (*be)->Nf4Matmul(Nf4Weight{packed, absmax, 2, 0}, 1, 1.0f, buf, 0.0f, buf);
  EXPECT_EQ(zero_in.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(zero_in.message(), "nf4_matmul: in must be >= 1 (shape m=1, out=2, in=0)");
  const absl::Status no_absmax =
      (*be)->Nf4MatmulBackward(Nf4Weight{packed, nullptr, 2, 2}, 1, 1.0f, buf, buf, GradMode::kOverwrite);
  EXPECT_EQ(no_absmax.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(no_absmax.message(), "nf4_matmul_backward: w.absmax is null");
}

// A backend that implements memory only: every op, the NF4 ones included, is UNIMPLEMENTED by name.
class BareBackend final : public Backend {
 public:
  absl::string_view name() const override { return "bare"; }
  absl::StatusOr<void*> Allocate(int64_t) override { return absl::UnimplementedError("no memory"); }
  absl::Status Free(void*) override { return absl::OkStatus(); }
  absl::Status CopyToDevice(void*, const void*, int64_t) override { return absl::OkStatus(); }
  absl::Status CopyToHost(void*, const void*, int64_t) override { return absl::OkStatus(); }
  absl::Status Memset(void*, int, int64_t) override { return absl::OkStatus(); }
};

TEST(Nf4MatmulArgsTest, BaseBackendReportsUnimplemented) {
  BareBackend bare;
  const uint8_t packed[2] = {};
  const float absmax[1] = {1.0f};
  float buf[4] = {};
  const Nf4Weight w{packed, absmax, 2, 2};
  const absl::Status fwd = bare.Nf4Matmul(w, 1, 1.0f, buf, 0.0f, buf);
  EXPECT_EQ(fwd.code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(fwd.message(), "nf4_matmul not supported by bare");
  const absl::Status bwd = bare.Nf4MatmulBackward(w, 1, 1.0f, buf, buf, GradMode::kAccumulate);
  EXPECT_EQ(bwd.code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(bwd.message(), "nf4_matmul_backward not supported by bare");
}

}  // namespace
}  // namespace ftd
