// What the frozen-weight matmul tests share (nf4_matmul_test, bf16_matmul_test): random inputs, bitwise and
// magnitude-relative comparisons, and the shapes they loop over. Each test checks its op against "decode W whole,
// then the fp32 Matmul", which one tile matches bitwise and several tiles up to summation order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "kernels/kernels.h"

namespace ftd::frozen_testing {

std::vector<float> Random(int64_t n, std::mt19937_64& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
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

struct Shape {
  int64_t m, out, in;
};

// The shapes every frozen format is checked on; the last spans two default tiles.
inline constexpr Shape kShapes[] = {{1, 1, 1},    {1, 96, 100},  {7, 33, 65},   {16, 128, 256},
                                    {5, 300, 37}, {1, 512, 1000}, {64, 200, 130}, {3, 1100, 1000}};

// Two fp32 sums of the same k <= 1100 terms in different orders differ by a few units of rounding of their partial
// sums, far below 1e-6 of the terms' total magnitude (measured up to 2.6e-7); a wrong term or index is >= 1e-3.
inline constexpr double kTol = 1e-6;

// The op under test at a tile size (the default tile: through the Backend; others: the CPU kernel directly).
using FrozenForward =
    std::function<absl::Status(int64_t tile, int64_t m, float alpha, const float* x, float beta, float* y)>;
using FrozenBackward =
    std::function<absl::Status(int64_t tile, int64_t m, float alpha, const float* dy, float* dx, GradMode mode)>;

// Checks forward and input gradient on random inputs of shape s, W being `reference` (out, in) decoded whole,
// against the fp32 Matmul / MatmulBackward on it, at every tile size: bitwise where W fits one tile (the very sgemm
// call the reference makes), within kTol of the terms' magnitude where it takes several (OpenBLAS may sum a column
// in another order when fewer columns share its call). Returns the largest several-tile error.
inline double ExpectEqualsDenseMatmul(Backend& be, const Shape& s, const std::vector<float>& reference,
                                      std::mt19937_64& rng, absl::Span<const int64_t> tiles,
                                      const FrozenForward& forward, const FrozenBackward& backward) {
  double worst = 0.0;
  const std::vector<float> x = Random(s.m * s.in, rng);    // (m, in)
  const std::vector<float> dy = Random(s.m * s.out, rng);  // (m, out)
  const std::vector<float> y0 = Random(s.m * s.out, rng);  // (m, out) for beta
  const std::vector<float> dx0 = Random(s.m * s.in, rng);  // (m, in) for accumulate
  for (const auto& [alpha, beta, mode] : {std::tuple{1.0f, 0.0f, GradMode::kOverwrite},
                                          std::tuple{0.5f, 1.5f, GradMode::kAccumulate}}) {
    const MatmulShape linear{s.m, s.out, s.in, Transpose::kNo, Transpose::kYes};
    std::vector<float> y_ref = y0, dx_ref = dx0;
    EXPECT_TRUE(be.Matmul(linear, alpha, x.data(), reference.data(), beta, y_ref.data()).ok());
    EXPECT_TRUE(
        be.MatmulBackward(linear, alpha, x.data(), reference.data(), dy.data(), dx_ref.data(), nullptr, mode).ok());
    const std::vector<double> y_scale = Magnitudes(x, reference, /*y_kn=*/false, s.m, s.out, s.in, alpha, beta, y0);
    const float dx_beta = mode == GradMode::kAccumulate ? 1.0f : 0.0f;
    const std::vector<double> dx_scale =
        Magnitudes(dy, reference, /*y_kn=*/true, s.m, s.in, s.out, alpha, dx_beta, dx0);
    for (int64_t tile : tiles) {
      const std::string what = absl::StrCat("m=", s.m, " out=", s.out, " in=", s.in, " alpha=", alpha, " beta=",
                                            beta, " tile=", tile);
      std::vector<float> y = y0, dx = dx0;
      EXPECT_TRUE(forward(tile, s.m, alpha, x.data(), beta, y.data()).ok()) << what;
      EXPECT_TRUE(backward(tile, s.m, alpha, dy.data(), dx.data(), mode).ok()) << what;
      if (s.out * s.in <= tile) {
        ExpectSame(y, y_ref, "forward " + what);
        ExpectSame(dx, dx_ref, "input gradient " + what);
      } else {
        worst = std::max(worst, ExpectClose(y, y_ref, y_scale, kTol, "forward " + what));
        worst = std::max(worst, ExpectClose(dx, dx_ref, dx_scale, kTol, "input gradient " + what));
      }
    }
  }
  return worst;
}

}  // namespace ftd::frozen_testing
