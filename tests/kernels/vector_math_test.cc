// kernels/cpu/vector_math.h: the vector exp against std::exp in double (ulp error over a dense sweep of
// [-100, 89] and the special values) and the row helpers against plain double loops, on every vector path this
// CPU has (RunOn), not only the one ActiveIsa() picks. Measured max error of the exp over the sweep: 1.006 ulp
// on the AVX2 and AVX-512 paths (fused multiply-adds), 0.977 ulp on the baseline path and the scalar ExpF.
#include "kernels/cpu/vector_math.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_ops.h"

namespace ftd::cpu::vec {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Every path the CPU supports, narrowest first.
std::vector<Isa> SupportedIsas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kBaseline, Isa::kAvx2, Isa::kAvx512}) {
    if (isa <= DetectIsa()) isas.push_back(isa);
  }
  return isas;
}

// y = e^x elementwise through ExpInPlace, tails included.
struct ExpKernel {
  template <int W>
  static FTD_VEC_INLINE void Run(const float* x, float* y, int64_t n) {
    typename Lanes<W>::F v;
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      Load(v, x + i);
      ExpInPlace(v);
      Store(y + i, v);
    }
    if (i < n) {
      LoadPartial(v, x + i, n - i, 0.0f);
      ExpInPlace(v);
      StorePartial(y + i, v, n - i);
    }
  }
};

// |got - exact| in units of the float spacing at `exact` (2^-149 among the subnormals); 0 when both round to
// the same infinity, infinite when got is infinite and the exact value does not round to it.
double UlpError(float got, double exact) {
  if (std::isinf(got)) return static_cast<float>(exact) == got ? 0.0 : std::numeric_limits<double>::infinity();
  const double a = std::fabs(exact);
  const double spacing = a < FLT_MIN ? std::ldexp(1.0, -149) : std::ldexp(1.0, std::ilogb(a) - 23);
  return std::fabs(static_cast<double>(got) - exact) / spacing;
}

// A dense sweep: 2^24 evenly spaced points of [-100, 89], and small magnitudes of both signs down to 2^-40.
std::vector<float> SweepPoints() {
  std::vector<float> x;
  constexpr int64_t kEven = int64_t{1} << 24;
  x.reserve(kEven + 2 * 40 * 4096 + 1);
  for (int64_t k = 0; k <= kEven; ++k) x.push_back(static_cast<float>(-100.0 + 189.0 * k / kEven));
  for (int e = -40; e < 0; ++e) {
    for (int k = 0; k < 4096; ++k) {
      const float m = std::ldexp(1.0f + k / 4096.0f, e);
      x.push_back(m);
      x.push_back(-m);
    }
  }
  return x;
}

TEST(VectorMathTest, ExpIsWithinTwoUlpOfStdExpOnEveryPath) {
  const std::vector<float> x = SweepPoints();
  std::vector<double> exact(x.size());
  for (size_t i = 0; i < x.size(); ++i) exact[i] = std::exp(static_cast<double>(x[i]));
  std::vector<float> y(x.size());
  auto report = [&](const std::string& path) {
    double worst = 0.0;
    float worst_x = 0.0f;
    for (size_t i = 0; i < x.size(); ++i) {
      const double e = UlpError(y[i], exact[i]);
      if (!(e <= worst)) {  // NaN counts as worse than anything.
        worst = e;
        worst_x = x[i];
      }
    }
    std::printf("exp on %-8s: max %.3f ulp (at x = %.9g) over %zu points of [-100, 89]\n", path.c_str(), worst,
                worst_x, x.size());
    EXPECT_LE(worst, 2.0) << path << " at x = " << worst_x;
  };
  for (size_t i = 0; i < x.size(); ++i) y[i] = ExpF(x[i]);
  report("scalar");
  for (Isa isa : SupportedIsas()) {
    RunOn<ExpKernel>(isa, x.data(), y.data(), static_cast<int64_t>(x.size()));
    report(std::string(IsaName(isa)));
  }
}

TEST(VectorMathTest, ExpSpecialValuesMatchStdExp) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Overflow starts past 88.7228394 and the smallest subnormal e^x is at x = -103.972; past them, inf and 0.
  const std::vector<float> x = {-kInf,      kInf,     nan,        -nan,       0.0f,       -0.0f,
                                -FLT_MAX,   FLT_MAX,  -1000.0f,   1000.0f,    -104.0f,    -103.97f,
                                -103.9f,    -100.0f,  -87.33654f, -87.3f,     88.7228f,   88.72283f,
                                88.72284f,  88.8f,    89.0f,      89.5f,      -1e-30f,    1e-30f,
                                FLT_MIN,    -FLT_MIN, 1e-45f,     0.34657359f, -0.34657359f};
  auto check = [&](const std::string& path, const std::vector<float>& y) {
    for (size_t i = 0; i < x.size(); ++i) {
      const float want = std::exp(x[i]);
      SCOPED_TRACE(path + " exp(" + std::to_string(x[i]) + ")");
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(y[i])) << y[i];
      } else if (std::isinf(want) || want == 0.0f) {
        EXPECT_EQ(y[i], want);
      } else {
        EXPECT_LE(UlpError(y[i], std::exp(static_cast<double>(x[i]))), 2.0) << y[i] << " vs " << want;
      }
    }
  };
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = ExpF(x[i]);
  check("scalar", y);
  for (Isa isa : SupportedIsas()) {
    RunOn<ExpKernel>(isa, x.data(), y.data(), static_cast<int64_t>(x.size()));
    check(std::string(IsaName(isa)), y);
  }
}

// Random rows of every length up to a few vectors and a vocabulary-sized one, so tails of every size are hit.
std::vector<int64_t> RowLengths() {
  std::vector<int64_t> n;
  for (int64_t k = 1; k <= 40; ++k) n.push_back(k);
  for (int64_t k : {63, 64, 65, 100, 255, 256, 257, 8192}) n.push_back(k);
  return n;
}

std::vector<float> RandomRow(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = u(rng);
  return x;
}

TEST(VectorMathTest, RowHelpersMatchDoubleLoopsOnEveryPath) {
  for (Isa isa : SupportedIsas()) {
    std::mt19937 rng(17);
    for (int64_t n : RowLengths()) {
      SCOPED_TRACE(std::string(IsaName(isa)) + " n=" + std::to_string(n));
      const std::vector<float> x = RandomRow(rng, n, -30.0f, 30.0f), b = RandomRow(rng, n, -2.0f, 2.0f);

      float mx = x[0];
      for (float v : x) mx = v > mx ? v : mx;
      EXPECT_EQ(RunOn<RowMaxKernel>(isa, x.data(), n), mx);

      double sum = 0.0, dot = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        sum += std::exp(static_cast<double>(x[i] - mx));  // The helpers subtract in fp32 too.
        dot += static_cast<double>(x[i]) * b[i];
      }
      EXPECT_NEAR(RunOn<SumExpKernel>(isa, x.data(), n, mx), sum, 3e-7 * sum);
      EXPECT_NEAR(RunOn<DotF64Kernel>(isa, x.data(), b.data(), n), dot, 1e-12 * (std::fabs(dot) + 1.0));

      // e^(x - shift) * scale, in place.
      std::vector<float> y = x;
      RunOn<ExpScaleKernel>(isa, y.data(), mx, 0.25f, y.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double want = std::exp(static_cast<double>(x[i] - mx)) * 0.25;
        ASSERT_NEAR(y[i], want, 4e-7 * want) << "ExpScale at " << i;
      }

      // Softmax, without and with segments (runs of 5 in three segments; the last entry's segment is kept).
      std::vector<int32_t> seg(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) seg[i] = static_cast<int32_t>((i / 5) % 3);
      for (bool masked : {false, true}) {
        const int32_t keep = seg[n - 1];
        float kept_max = -kInf;
        for (int64_t i = 0; i < n; ++i) {
          if (!masked || seg[i] == keep) kept_max = std::max(kept_max, x[i]);
        }
        double denom = 0.0;
        for (int64_t i = 0; i < n; ++i) {
          if (!masked || seg[i] == keep) denom += std::exp(static_cast<double>(x[i] - kept_max));
        }
        std::vector<float> p = x;
        if (masked) {
          RunOn<SoftmaxKernel<true>>(isa, p.data(), n, seg.data(), keep);
        } else {
          RunOn<SoftmaxKernel<false>>(isa, p.data(), n, static_cast<const int32_t*>(nullptr), 0);
        }
        for (int64_t i = 0; i < n; ++i) {
          if (masked && seg[i] != keep) {
            ASSERT_EQ(p[i], 0.0f) << "masked entry " << i;
            continue;
          }
          const double want = std::exp(static_cast<double>(x[i] - kept_max)) / denom;
          ASSERT_NEAR(p[i], want, 1e-6 * want + 1e-30) << (masked ? "masked " : "") << "softmax at " << i;
        }
      }

      // dS = P * (dP - delta): the same fp32 operations as a plain loop, so the same bits.
      std::vector<float> ds = b;
      RunOn<SoftmaxBackwardKernel>(isa, ds.data(), x.data(), 0.375f, n);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(ds[i], x[i] * (b[i] - 0.375f)) << "softmax backward at " << i;
    }
  }
}

TEST(VectorMathTest, SoftmaxOfRowsWithInfinitiesIsFinite) {
  for (Isa isa : SupportedIsas()) {
    std::vector<float> row = {-kInf, 1.0f, -kInf, 1.0f, -1e30f};
    RunOn<SoftmaxKernel<false>>(isa, row.data(), int64_t{5}, static_cast<const int32_t*>(nullptr), 0);
    EXPECT_EQ(row, (std::vector<float>{0.0f, 0.5f, 0.0f, 0.5f, 0.0f})) << IsaName(isa);
  }
}

// The sigmoid inside SwiGLU is 1 / (1 + e^-g): at gates far past the exp's range it must saturate to 0 and 1
// (silu -> -0 and g), never NaN (inf / inf), forward and backward.
TEST(VectorMathTest, SwiGluStaysFiniteAtExtremeGates) {
  const std::vector<float> gate = {-1e30f, -1000.0f, -104.0f, -88.0f, -20.0f, 0.0f,   20.0f,
                                   88.0f,  89.0f,    104.0f,  1000.0f, 1e30f, -0.5f, 0.5f};
  const int64_t n = static_cast<int64_t>(gate.size());
  const std::vector<float> up(gate.size(), 2.0f), dh(gate.size(), 1.0f);
  std::vector<float> h(gate.size()), dgate(gate.size()), dup(gate.size());
  ASSERT_TRUE(SwiGluForwardCpu(gate.data(), up.data(), h.data(), n).ok());
  ASSERT_TRUE(SwiGluBackwardCpu(gate.data(), up.data(), dh.data(), dgate.data(), dup.data(), n).ok());
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i], sig = 1.0 / (1.0 + std::exp(-g));
    SCOPED_TRACE("gate " + std::to_string(gate[i]) + " on " + std::string(IsaName(ActiveIsa())));
    ASSERT_TRUE(std::isfinite(h[i]) && std::isfinite(dgate[i]) && std::isfinite(dup[i]));
    EXPECT_NEAR(h[i], g * sig * 2.0, 1e-6 * std::fabs(g * 2.0));
    EXPECT_NEAR(dup[i], g * sig, 1e-6 * std::fabs(g));
    EXPECT_NEAR(dgate[i], 2.0 * sig * (1.0 + g * (1.0 - sig)), 1e-6);
  }
}

}  // namespace
}  // namespace ftd::cpu::vec
