// SkinnyGemmRight / SkinnyGemmReduce: register-blocked AVX-512 kernels (chosen at run time, so the build needs no
// -march flag) with an sgemm fallback. The r-wide side is held in NR zmm registers (r = 16 * NR); each kernel
// streams the tall operand once, broadcasting its elements into fused multiply-adds.
#include "kernels/cpu/skinny_gemm.h"

#include <omp.h>

#include <algorithm>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/vector_math.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define FTD_SKINNY_AVX512 1
#endif

namespace ftd::cpu {
namespace {

#if FTD_SKINNY_AVX512

// Under the same run-time choice (and FTD_CPU_MAX_ISA cap) as the vector kernels.
bool HasAvx512() { return vec::ActiveIsa() == vec::Isa::kAvx512; }

// out (16 * NR) = alpha * acc [+ beta * out].
template <int NR>
__attribute__((target("avx512f"))) inline void StoreRow(const __m512* acc, float alpha, float beta, float* out) {
  #pragma GCC unroll 16
  for (int j = 0; j < NR; ++j) {
    __m512 v = _mm512_mul_ps(acc[j], _mm512_set1_ps(alpha));
    if (beta != 0.0f) v = _mm512_fmadd_ps(_mm512_loadu_ps(out + 16 * j), _mm512_set1_ps(beta), v);
    _mm512_storeu_ps(out + 16 * j, v);
  }
}

// C rows [i0, i1): RB rows at a time, RB * NR accumulators, one pass over k.
template <int NR, int RB>
__attribute__((target("avx512f"))) void RightRows(int64_t i0, int64_t i1, int64_t k, int64_t r, float alpha,
                                                  const float* x, int64_t ldx, const float* y, float beta,
                                                  float* c) {
  int64_t i = i0;
  for (; i + RB <= i1; i += RB) {
    __m512 acc[RB][NR];
    #pragma GCC unroll 16
    for (int b = 0; b < RB; ++b) {
      #pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) acc[b][j] = _mm512_setzero_ps();
    }
    const float* xi = x + i * ldx;
    for (int64_t p = 0; p < k; ++p) {
      __m512 yv[NR];
      #pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) yv[j] = _mm512_loadu_ps(y + p * r + 16 * j);
      #pragma GCC unroll 16
      for (int b = 0; b < RB; ++b) {
        const __m512 xb = _mm512_set1_ps(xi[b * ldx + p]);
        #pragma GCC unroll 16
        for (int j = 0; j < NR; ++j) acc[b][j] = _mm512_fmadd_ps(xb, yv[j], acc[b][j]);
      }
    }
    #pragma GCC unroll 16
    for (int b = 0; b < RB; ++b) StoreRow<NR>(acc[b], alpha, beta, c + (i + b) * r);
  }
  for (; i < i1; ++i) {
    __m512 acc[NR];
    #pragma GCC unroll 16
    for (int j = 0; j < NR; ++j) acc[j] = _mm512_setzero_ps();
    const float* xi = x + i * ldx;
    for (int64_t p = 0; p < k; ++p) {
      const __m512 xb = _mm512_set1_ps(xi[p]);
      #pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) acc[j] = _mm512_fmadd_ps(xb, _mm512_loadu_ps(y + p * r + 16 * j), acc[j]);
    }
    StoreRow<NR>(acc, alpha, beta, c + i * r);
  }
}

// D rows [p0, p1) (columns of X), summed over all m rows of X and Z: rows of X in blocks of kRowBlock (a slab that
// stays in L2 while the columns are swept, rather than a column sweep over all rows that misses the TLB on every
// row), KB columns at a time in KB * NR accumulators loaded from and stored back to D.
template <int NR, int KB>
__attribute__((target("avx512f"))) void ReduceCols(int64_t p0, int64_t p1, int64_t m, int64_t r, float alpha,
                                                   const float* x, int64_t ldx, const float* z, float* d) {
  constexpr int64_t kRowBlock = 64;
  for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
    const int64_t i1 = std::min(m, i0 + kRowBlock);
    int64_t p = p0;
    for (; p + KB <= p1; p += KB) {
      __m512 acc[KB][NR];
#pragma GCC unroll 16
      for (int b = 0; b < KB; ++b) {
#pragma GCC unroll 16
        for (int j = 0; j < NR; ++j) acc[b][j] = _mm512_setzero_ps();
      }
      for (int64_t i = i0; i < i1; ++i) {
        __m512 zv[NR];
#pragma GCC unroll 16
        for (int j = 0; j < NR; ++j) zv[j] = _mm512_loadu_ps(z + i * r + 16 * j);
        const float* xi = x + i * ldx + p;
#pragma GCC unroll 16
        for (int b = 0; b < KB; ++b) {
          const __m512 xb = _mm512_set1_ps(xi[b]);
#pragma GCC unroll 16
          for (int j = 0; j < NR; ++j) acc[b][j] = _mm512_fmadd_ps(xb, zv[j], acc[b][j]);
        }
      }
#pragma GCC unroll 16
      for (int b = 0; b < KB; ++b) StoreRow<NR>(acc[b], alpha, 1.0f, d + (p + b) * r);
    }
    for (; p < p1; ++p) {
      __m512 acc[NR];
#pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) acc[j] = _mm512_setzero_ps();
      for (int64_t i = i0; i < i1; ++i) {
        const __m512 xb = _mm512_set1_ps(x[i * ldx + p]);
#pragma GCC unroll 16
        for (int j = 0; j < NR; ++j) acc[j] = _mm512_fmadd_ps(xb, _mm512_loadu_ps(z + i * r + 16 * j), acc[j]);
      }
      StoreRow<NR>(acc, alpha, 1.0f, d + p * r);
    }
  }
}

// [lo, hi) of n split evenly over the team, in multiples of `grain`.
void Slice(int64_t n, int64_t grain, int64_t* lo, int64_t* hi) {
  const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
  const int64_t blocks = (n + grain - 1) / grain;
  *lo = std::min(n, blocks * t / threads * grain);
  *hi = std::min(n, blocks * (t + 1) / threads * grain);
}

template <int NR>
void RightAvx512(int64_t m, int64_t k, int64_t r, float alpha, const float* x, int64_t ldx, const float* y,
                 float beta, float* c) {
  constexpr int kRows = NR == 1 ? 8 : 4;  // RB * NR accumulators + NR operands stay within the 32 zmm registers.
#pragma omp parallel if (m * k * r >= (1 << 18))
  {
    int64_t lo = 0, hi = 0;
    Slice(m, kRows, &lo, &hi);
    RightRows<NR, kRows>(lo, hi, k, r, alpha, x, ldx, y, beta, c);
  }
}

template <int NR>
void ReduceAvx512(int64_t m, int64_t k, int64_t r, float alpha, const float* x, int64_t ldx, const float* z,
                  float* d) {
  constexpr int kCols = NR == 1 ? 8 : 4;
#pragma omp parallel if (m * k * r >= (1 << 18))
  {
    int64_t lo = 0, hi = 0;
    Slice(k, kCols, &lo, &hi);
    ReduceCols<NR, kCols>(lo, hi, m, r, alpha, x, ldx, z, d);
  }
}

#endif  // FTD_SKINNY_AVX512

}  // namespace

void SkinnyGemmRight(int64_t m, int64_t k, int64_t r, float alpha, const float* x, int64_t ldx, const float* y,
                     float beta, float* c) {
#if FTD_SKINNY_AVX512
  if (HasAvx512() && r % 16 == 0) {
    switch (r / 16) {
      case 1: return RightAvx512<1>(m, k, r, alpha, x, ldx, y, beta, c);
      case 2: return RightAvx512<2>(m, k, r, alpha, x, ldx, y, beta, c);
      case 3: return RightAvx512<3>(m, k, r, alpha, x, ldx, y, beta, c);
      case 4: return RightAvx512<4>(m, k, r, alpha, x, ldx, y, beta, c);
      default: break;
    }
  }
#endif
  Gemm(false, false, m, r, k, alpha, x, y, beta, c, ldx);
}

void SkinnyGemmReduce(int64_t m, int64_t k, int64_t r, float alpha, const float* x, int64_t ldx, const float* z,
                      float* d) {
#if FTD_SKINNY_AVX512
  if (HasAvx512() && r % 16 == 0) {
    switch (r / 16) {
      case 1: return ReduceAvx512<1>(m, k, r, alpha, x, ldx, z, d);
      case 2: return ReduceAvx512<2>(m, k, r, alpha, x, ldx, z, d);
      case 3: return ReduceAvx512<3>(m, k, r, alpha, x, ldx, z, d);
      case 4: return ReduceAvx512<4>(m, k, r, alpha, x, ldx, z, d);
      default: break;
    }
  }
#endif
  Gemm(true, false, k, r, m, alpha, x, z, 1.0f, d, ldx);
}

}  // namespace ftd::cpu
