// Vector paths for the CPU backend's elementwise and row loops: a vectorisable fp32 exp, lanes as GCC vector
// extensions, a run-time dispatch that runs a kernel at the widest width the CPU has (so the build needs no
// -march flag), and the row helpers more than one op uses (max, sum of exp, softmax and its backward, dot).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>

#if defined(__x86_64__) || defined(__i386__)
#define FTD_VEC_X86 1
#else
#define FTD_VEC_X86 0
#endif

// Every helper below is inlined into the kernel that calls it, and a kernel into its per-ISA entry point, so the
// vector code is generated for that entry point's target. Vectors are passed by reference, never by value: a
// vector argument of a default-target function would change the ABI (and trip -Wpsabi).
#define FTD_VEC_INLINE inline __attribute__((always_inline))

namespace ftd::cpu::vec {

// ---- Lanes ----

// W lanes: F (fp32), I (int32, also what comparing two F gives), and for sums in double D (fp64, W/2 lanes: the
// same bytes as F, so a widened F is two D that stay in registers) and H (fp32, W/2 lanes). W = 1 is plain
// scalars, for the scalar exp.
template <int W>
struct Lanes;
template <>
struct Lanes<1> {
  using F = float;
  using I = int32_t;
};
template <>
struct Lanes<4> {
  typedef float F __attribute__((vector_size(16)));
  typedef int32_t I __attribute__((vector_size(16)));
  typedef float H __attribute__((vector_size(8)));
  typedef double D __attribute__((vector_size(16)));
};
template <>
struct Lanes<8> {
  typedef float F __attribute__((vector_size(32)));
  typedef int32_t I __attribute__((vector_size(32)));
  typedef float H __attribute__((vector_size(16)));
  typedef double D __attribute__((vector_size(32)));
};
template <>
struct Lanes<16> {
  typedef float F __attribute__((vector_size(64)));
  typedef int32_t I __attribute__((vector_size(64)));
  typedef float H __attribute__((vector_size(32)));
  typedef double D __attribute__((vector_size(64)));
};

template <class V, class T>
FTD_VEC_INLINE void Splat(V& v, T x) {
  v = x - V{};  // x - 0 keeps -0, infinities and NaN as they are (x + 0 would turn -0 into +0).
}
template <class V, class T>
FTD_VEC_INLINE void Load(V& v, const T* p) {
  std::memcpy(&v, p, sizeof v);
}
template <class V, class T>
FTD_VEC_INLINE void Store(T* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}
// The first m (< lanes) elements of p, the other lanes `fill`: a row's tail runs through the same vector code.
// Through a buffer, so that v's address is never taken by a variable-length copy (which would keep v in memory).
template <class V, class T>
FTD_VEC_INLINE void LoadPartial(V& v, const T* p, int64_t m, T fill) {
  T buf[sizeof(V) / sizeof(T)];
  for (int64_t k = 0; k < static_cast<int64_t>(sizeof(V) / sizeof(T)); ++k) buf[k] = k < m ? p[k] : fill;
  Load(v, buf);
}
template <class V, class T>
FTD_VEC_INLINE void StorePartial(T* p, const V& v, int64_t m) {
  T buf[sizeof(V) / sizeof(T)];
  Store(buf, v);
  for (int64_t k = 0; k < m; ++k) p[k] = buf[k];
}
// Float lanes to double lanes: lo gets lanes [0, W/2), hi the rest. (Converting the whole vector and splitting
// the result gives one vcvtps2pd per half; converting each half of the floats makes GCC 12 split it once more.)
template <int W>
FTD_VEC_INLINE void Widen(const typename Lanes<W>::F& f, typename Lanes<W>::D& lo, typename Lanes<W>::D& hi) {
  typedef double Wide __attribute__((vector_size(8 * W)));
  const Wide w = __builtin_convertvector(f, Wide);
  std::memcpy(&lo, &w, sizeof lo);
  std::memcpy(&hi, reinterpret_cast<const char*>(&w) + sizeof lo, sizeof hi);
}
// Stores double lanes as floats (rounding each): lo to p[0, W/2), hi to p[W/2, W).
template <int W>
FTD_VEC_INLINE void StoreNarrow(float* p, const typename Lanes<W>::D& lo, const typename Lanes<W>::D& hi) {
  Store(p, __builtin_convertvector(lo, typename Lanes<W>::H));
  Store(p + W / 2, __builtin_convertvector(hi, typename Lanes<W>::H));
}
template <int W>
FTD_VEC_INLINE double SumLanes(const typename Lanes<W>::D& lo, const typename Lanes<W>::D& hi) {
  double s = 0.0;
  for (int k = 0; k < W / 2; ++k) s += lo[k];
  for (int k = 0; k < W / 2; ++k) s += hi[k];
  return s;
}

// ---- exp ----

// e^x in place on every lane, subnormal results included: measured max error 1.01 ulp with fused multiply-adds
// (AVX2, AVX-512), 0.98 ulp without, over a dense sweep of [-100, 89] (tests/kernels/vector_math_test.cc); 0 below
// -104 and -inf, +inf past 89 and at +inf, NaN stays NaN.
// x = n ln2 + r with n = round(x / ln2), |r| <= ln2/2 (ln2 in two parts, so n ln2 is exact); e^r = 1 + r + r^2 P(r)
// with P of degree 4 fitted to (e^r - 1 - r) / r^2 on that interval (our own least-squares fit at Chebyshev
// nodes, relative error 4e-9); 2^n is applied as 2^(n/2) 2^(n - n/2) so that n from -150 to 128 gives
// subnormals and overflow to inf with one rounding, like std::exp.
template <class F>
FTD_VEC_INLINE void ExpInPlace(F& v) {
  using I = typename Lanes<sizeof(F) / sizeof(float)>::I;
  const F x = v;
  // Past 89 the result is +inf, below -104 it is 0 (e^-104 is under half the smallest subnormal).
  F c = x > 89.0f ? F{} + 89.0f : x;
  c = c < -104.0f ? F{} - 104.0f : c;
  // Round x / ln2 to an integer by adding 1.5 * 2^23: n is then in the low mantissa bits of t.
  constexpr float kRound = 0x1.8p23f;
  const F t = c * 0x1.715476p+0f + kRound;
  const F n = t - kRound;
  const I ni = __builtin_bit_cast(I, t) - __builtin_bit_cast(I, F{} + kRound);
  const F r = (c - n * 0x1.62e4p-1f) - n * 0x1.7f7d1cp-20f;  // ln2 = 0x1.62e4p-1 (15 bits) + 0x1.7f7d1cp-20.
  F p = r * 0x1.687c22p-10f + 0x1.123b8ep-7f;
  p = p * r + 0x1.555b58p-5f;
  p = p * r + 0x1.55548ep-3f;
  p = p * r + 0x1.fffff8p-2f;
  const F er = (r * r) * p + r + 1.0f;
  const I n1 = ni >> 1, n2 = ni - n1;  // Each in [-75, 64]: 2^n1 and 2^n2 are normal floats.
  const F e = er * __builtin_bit_cast(F, (n1 + 127) << 23) * __builtin_bit_cast(F, (n2 + 127) << 23);
  v = x == x ? e : x + x;  // NaN in, NaN out.
}

// The same exp on one float (the vector lanes give the same value, up to fused multiply-adds).
inline float ExpF(float x) {
  ExpInPlace(x);
  return x;
}

// ---- dispatch ----

// The vector paths, narrowest first. kBaseline is 4 lanes of what the build targets (SSE2 on x86-64, NEON on
// aarch64); kAvx2 is 8 lanes with AVX2 + FMA; kAvx512 is 16 lanes with AVX-512F.
enum class Isa { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

inline std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kBaseline:
      break;
  }
  return "baseline";
}

// The widest path this CPU (and its OS: libgcc checks XGETBV) supports.
inline Isa DetectIsa() {
#if FTD_VEC_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
  return Isa::kBaseline;
}

// The path kernels run on, chosen once per process: DetectIsa(), capped by FTD_CPU_MAX_ISA=baseline|avx2|avx512
// when that is set (to test or time a narrower path on a wider machine; an unknown value is ignored).
inline Isa ActiveIsa() {
  static const Isa active = [] {
    Isa isa = DetectIsa();
    if (const char* cap = std::getenv("FTD_CPU_MAX_ISA"); cap != nullptr) {
      for (Isa c : {Isa::kBaseline, Isa::kAvx2, Isa::kAvx512}) {
        if (IsaName(c) == cap && c < isa) isa = c;
      }
    }
    return isa;
  }();
  return active;
}

// A kernel is a struct with `template <int W> static FTD_VEC_INLINE R Run(args...)` written over Lanes<W>, W one
// of 4, 8, 16; these entry points instantiate it once per target, so each gets that target's instructions.
#if FTD_VEC_X86
template <class K, class... A>
__attribute__((target("avx512f"), noinline)) auto RunAvx512(A... a) {
  return K::template Run<16>(a...);
}
template <class K, class... A>
__attribute__((target("avx2,fma"), noinline)) auto RunAvx2(A... a) {
  return K::template Run<8>(a...);
}
#endif
template <class K, class... A>
__attribute__((noinline)) auto RunBaseline(A... a) {
  return K::template Run<4>(a...);
}

// Runs kernel K on path `isa`, which the CPU must support (tests call it for each path DetectIsa() allows).
template <class K, class... A>
inline auto RunOn(Isa isa, A... a) {
#if FTD_VEC_X86
  if (isa == Isa::kAvx512) return RunAvx512<K>(a...);
  if (isa == Isa::kAvx2) return RunAvx2<K>(a...);
#else
  (void)isa;
#endif
  return RunBaseline<K>(a...);
}

// Runs kernel K on ActiveIsa()'s path.
template <class K, class... A>
inline auto Run(A... a) {
  return RunOn<K>(ActiveIsa(), a...);
}

// ---- row kernels ----

struct RowMaxKernel {
  template <int W>
  static FTD_VEC_INLINE float Run(const float* x, int64_t n) {
    using F = typename Lanes<W>::F;
    F m, v;
    Splat(m, x[0]);  // A NaN in x[0] makes the result NaN, as `m = x > m ? x : m` from x[0] does.
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      Load(v, x + i);
      m = v > m ? v : m;
    }
    if (i < n) {
      LoadPartial(v, x + i, n - i, x[0]);
      m = v > m ? v : m;
    }
    float r = m[0];
    for (int k = 1; k < W; ++k) r = m[k] > r ? m[k] : r;
    return r;
  }
};

struct SumExpKernel {
  template <int W>
  static FTD_VEC_INLINE double Run(const float* x, int64_t n, float shift) {
    using L = Lanes<W>;
    typename L::F v;
    typename L::D acc_lo{}, acc_hi{}, lo, hi;
    int64_t i = 0;
    for (; i < n; i += W) {
      if (i + W <= n) {
        Load(v, x + i);
      } else {
        LoadPartial(v, x + i, n - i, -std::numeric_limits<float>::infinity());  // e^-inf = 0 adds nothing.
      }
      v = v - shift;
      ExpInPlace(v);
      Widen<W>(v, lo, hi);
      acc_lo += lo;
      acc_hi += hi;
    }
    return SumLanes<W>(acc_lo, acc_hi);
  }
};

struct ExpScaleKernel {
  template <int W>
  static FTD_VEC_INLINE void Run(const float* x, float shift, float scale, float* y, int64_t n) {
    typename Lanes<W>::F v;
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      Load(v, x + i);
      v = v - shift;
      ExpInPlace(v);
      Store(y + i, v * scale);
    }
    if (i < n) {
      LoadPartial(v, x + i, n - i, 0.0f);
      v = v - shift;
      ExpInPlace(v);
      StorePartial(y + i, v * scale, n - i);
    }
  }
};

// kMasked: only the entries with seg[u] == keep count; the others become 0.
template <bool kMasked>
struct SoftmaxKernel {
  template <int W>
  static FTD_VEC_INLINE void Run(float* row, int64_t n, const int32_t* seg, int32_t keep) {
    using L = Lanes<W>;
    using F = typename L::F;
    using I = typename L::I;
    constexpr float kInf = std::numeric_limits<float>::infinity();
    F v, m;
    I s;
    typename L::D acc_lo{}, acc_hi{}, lo, hi;
    Splat(m, -kInf);
    for (int64_t i = 0; i < n; i += W) {
      const int64_t left = n - i;
      if (left >= W) {
        Load(v, row + i);
        if constexpr (kMasked) Load(s, seg + i);
      } else {
        LoadPartial(v, row + i, left, -kInf);
        if constexpr (kMasked) LoadPartial(s, seg + i, left, ~keep);
      }
      if constexpr (kMasked) v = s == keep ? v : F{} - kInf;
      m = v > m ? v : m;
    }
    float mx = m[0];
    for (int k = 1; k < W; ++k) mx = m[k] > mx ? m[k] : mx;
    for (int64_t i = 0; i < n; i += W) {
      const int64_t left = n - i;
      if (left >= W) {
        Load(v, row + i);
        if constexpr (kMasked) Load(s, seg + i);
      } else {
        LoadPartial(v, row + i, left, -kInf);
        if constexpr (kMasked) LoadPartial(s, seg + i, left, ~keep);
      }
      v = v - mx;
      ExpInPlace(v);
      if constexpr (kMasked) v = s == keep ? v : F{};
      Widen<W>(v, lo, hi);
      acc_lo += lo;
      acc_hi += hi;
      if (left >= W) {
        Store(row + i, v);
      } else {
        StorePartial(row + i, v, left);
      }
    }
    const float inv = static_cast<float>(1.0 / SumLanes<W>(acc_lo, acc_hi));
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      Load(v, row + i);
      Store(row + i, v * inv);
    }
    for (; i < n; ++i) row[i] *= inv;
  }
};

struct SoftmaxBackwardKernel {
  template <int W>
  static FTD_VEC_INLINE void Run(float* dp, const float* p, float delta, int64_t n) {
    typename Lanes<W>::F g, q;
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      Load(g, dp + i);
      Load(q, p + i);
      Store(dp + i, q * (g - delta));
    }
    for (; i < n; ++i) dp[i] = p[i] * (dp[i] - delta);
  }
};

struct DotF64Kernel {
  template <int W>
  static FTD_VEC_INLINE double Run(const float* a, const float* b, int64_t n) {
    using L = Lanes<W>;
    typename L::F fa, fb;
    typename L::D acc_lo{}, acc_hi{}, a_lo, a_hi, b_lo, b_hi;
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      Load(fa, a + i);
      Load(fb, b + i);
      Widen<W>(fa, a_lo, a_hi);
      Widen<W>(fb, b_lo, b_hi);
      acc_lo += a_lo * b_lo;
      acc_hi += a_hi * b_hi;
    }
    double s = SumLanes<W>(acc_lo, acc_hi);
    for (; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
    return s;
  }
};

// The largest of x[0, n), n >= 1 (NaN only when x[0] is NaN, as a sequential max from x[0] gives).
inline float RowMax(const float* x, int64_t n) { return Run<RowMaxKernel>(x, n); }

// sum of e^(x[i] - shift) over [0, n), the exps in fp32 and their sum in double.
inline double SumExp(const float* x, int64_t n, float shift) { return Run<SumExpKernel>(x, n, shift); }

// y[i] = e^(x[i] - shift) * scale over [0, n); y may be x.
inline void ExpScale(const float* x, float shift, float scale, float* y, int64_t n) {
  Run<ExpScaleKernel>(x, shift, scale, y, n);
}

// Softmax of row[0, n) in place, stable by max subtraction, the sum in double. With seg, only the entries with
// seg[u] == keep take part (at least one must) and the others become exactly 0.
inline void SoftmaxRow(float* row, int64_t n, const int32_t* seg = nullptr, int32_t keep = 0) {
  if (seg != nullptr) {
    Run<SoftmaxKernel<true>>(row, n, seg, keep);
  } else {
    Run<SoftmaxKernel<false>>(row, n, seg, keep);
  }
}

// Softmax backward over one row: dp[i] = p[i] * (dp[i] - delta), delta = sum_i p[i] dp_in[i] = dot(dy, y).
inline void SoftmaxBackwardRow(float* dp, const float* p, float delta, int64_t n) {
  Run<SoftmaxBackwardKernel>(dp, p, delta, n);
}

// sum of a[i] * b[i] over [0, n), in double.
inline double DotF64(const float* a, const float* b, int64_t n) { return Run<DotF64Kernel>(a, b, n); }

}  // namespace ftd::cpu::vec
