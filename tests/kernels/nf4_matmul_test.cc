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

namespace ftd {
namespace {

std::vector<float> Random(int64_t n, std::mt19937_64& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

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

// Bitwise equality, with the first differing element named.
void ExpectSame(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", reference " << want[i];
      return;
    }
  }
}

// |got - want| <= tol * scale elementwise, scale being the sum of the magnitudes of the terms each element adds up
// (|alpha| |x| @ |W|^T + |beta y0|): the bound for two summation orders of the same terms.
// Returns the largest such error.
double ExpectClose(const std::vector<float>& got, const std::vector<float>& want, const std::vector<double>& scale,
                   double tol, const std::string& what) {
  EXPECT_EQ(got.size(), want.size()) << what;
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - want[i]) / scale[i];
    if (!(err <= tol)) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", reference " << want[i] << " (error "
                    << err << " of the terms' magnitude, tolerance " << tol << ")";
      return err;
    }
    worst = std::max(worst, err);
  }
  return worst;
}

// Z (rows, cols) = |alpha| |X| (rows, k) @ |Y|^T (k, cols) + |beta C| in double, Y stored (cols, k), or (k, cols)
// when y_kn.
std::vector<double> Magnitudes(const std::vector<float>& x, const std::vector<float>& y, bool y_kn, int64_t rows,
                               int64_t cols, int64_t k, float alpha, float beta, const std::vector<float>& c) {
  std::vector<double> z(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const float yv = y_kn ? y[p * cols + j] : y[j * k + p];
        acc += std::abs(static_cast<double>(x[i * k + p]) * yv);
      }
      z[i * cols + j] = std::abs(alpha) * acc + std::abs(beta * static_cast<double>(c[i * cols + j])) + 1e-30;
    }
  }
  return z;
}

TEST(Nf4WeightTest, CodeTableMatchesModelQuant) {
  for (int c = 0; c < 16; ++c) EXPECT_EQ(kNf4WeightCode[c], Nf4Code()[c]) << "code " << c;
  EXPECT_EQ(kNf4WeightBlockSize, kNf4BlockSize);
}

struct Shape {
  int64_t m, out, in;
};

// Two fp32 sums of the same k <= 1100 terms in different orders differ by a few units of rounding of their partial
// sums, far below 1e-6 of the terms' total magnitude (measured: up to 2.6e-7); a wrong term or index is >= 1e-3.
constexpr double kTol = 1e-6;

class Nf4MatmulTest : public ::testing::TestWithParam<Nf4Statistics> {};

// Through the CPU backend (default tiles) and through the kernels with small tiles, for several shapes.
TEST_P(Nf4MatmulTest, EqualsDequantizeThenMatmul) {
  absl::StatusOr<Backend*> be = GetBackend("cpu");
  ASSERT_TRUE(be.ok()) << be.status();
  std::mt19937_64 rng(7);
  double worst = 0.0;  // over the several-tile runs
  const Shape shapes[] = {{1, 1, 1},     {1, 96, 100},  {7, 33, 65},    {16, 128, 256},
                          {5, 300, 37},  {1, 512, 1000}, {64, 200, 130}, {3, 1100, 1000}};  // the last: 2 default tiles
  const int64_t tiles[] = {cpu::kNf4TileFloats, 100, 1};  // 100: boundaries inside blocks and bytes; 1: one row/column
  for (const Shape& s : shapes) {
    const QuantizedWeight w = MakeWeight(s.out, s.in, GetParam(), rng);
    const std::vector<float> x = Random(s.m * s.in, rng);    // (m, in)
    const std::vector<float> dy = Random(s.m * s.out, rng);  // (m, out)
    const std::vector<float> y0 = Random(s.m * s.out, rng);  // (m, out) for beta
    const std::vector<float> dx0 = Random(s.m * s.in, rng);  // (m, in) for accumulate
    for (const auto& [alpha, beta, mode] : {std::tuple{1.0f, 0.0f, GradMode::kOverwrite},
                                            std::tuple{0.5f, 1.5f, GradMode::kAccumulate}}) {
      // The reference: the fp32 linear layer on the whole dequantised W.
      const MatmulShape linear{s.m, s.out, s.in, Transpose::kNo, Transpose::kYes};
      std::vector<float> y_ref = y0, dx_ref = dx0;
      ASSERT_TRUE((*be)->Matmul(linear, alpha, x.data(), w.reference.data(), beta, y_ref.data()).ok());
      ASSERT_TRUE((*be)->MatmulBackward(linear, alpha, x.data(), w.reference.data(), dy.data(), dx_ref.data(),
                                        nullptr, mode).ok());
      const std::vector<double> y_scale =
          Magnitudes(x, w.reference, /*y_kn=*/false, s.m, s.out, s.in, alpha, beta, y0);
      const float dx_beta = mode == GradMode::kAccumulate ? 1.0f : 0.0f;
      const std::vector<double> dx_scale =
          Magnitudes(dy, w.reference, /*y_kn=*/true, s.m, s.in, s.out, alpha, dx_beta, dx0);
      for (int64_t tile : tiles) {
        const std::string what = absl::StrCat("m=", s.m, " out=", s.out, " in=", s.in, " alpha=", alpha,
                                              " beta=", beta, " tile=", tile);
        std::vector<float> y = y0, dx = dx0;
        if (tile == cpu::kNf4TileFloats) {
          ASSERT_TRUE((*be)->Nf4Matmul(w.view, s.m, alpha, x.data(), beta, y.data()).ok());
          ASSERT_TRUE((*be)->Nf4MatmulBackward(w.view, s.m, alpha, dy.data(), dx.data(), mode).ok());
        } else {
          ASSERT_TRUE(cpu::Nf4MatmulCpu(w.view, s.m, alpha, x.data(), beta, y.data(), tile).ok());
          ASSERT_TRUE(cpu::Nf4MatmulBackwardCpu(w.view, s.m, alpha, dy.data(), dx.data(), mode, tile).ok());
        }
        if (s.out * s.in <= tile) {
          // One tile: the very sgemm call the reference makes, so the very same bits.
          ExpectSame(y, y_ref, "forward " + what);
          ExpectSame(dx, dx_ref, "input gradient " + what);
        } else {
          // Several tiles: OpenBLAS may sum a column in another order when fewer columns share its call (its
          // small-matrix kernels), so the tiled result matches up to summation order: bounded by tolerance.
          worst = std::max(worst, ExpectClose(y, y_ref, y_scale, kTol, "forward " + what));
          worst = std::max(worst, ExpectClose(dx, dx_ref, dx_scale, kTol, "input gradient " + what));
        }
      }
    }
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
