// SwiGluForwardCpu / SwiGluBackwardCpu: the Llama MLP's h = silu(gate) * up and its gradients, elementwise, on the
// widest vector path the CPU has (vector_math.h).
#include <algorithm>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/vector_math.h"

namespace ftd::cpu {
namespace {

constexpr int64_t kParallelMin = 1 << 14;
constexpr int64_t kChunk = 1 << 12;  // Elements per OpenMP work item (the vector kernels run per chunk).

// sig = 1 / (1 + e^-g): +inf for e^-g at very negative g gives sig = 0, and 0 at very positive g gives 1, so
// neither end makes a NaN (g * e / (1 + e) would: inf / inf).
template <class F>
FTD_VEC_INLINE void Sigmoid(const F& g, F& sig) {
  F e = -g;
  vec::ExpInPlace(e);
  sig = 1.0f / (1.0f + e);
}

struct SwiGluForwardKernel {
  template <class F>
  static FTD_VEC_INLINE void Block(const F& g, const F& u, F& h) {
    F sig;
    Sigmoid(g, sig);
    h = g * sig * u;
  }
  template <int W>
  static FTD_VEC_INLINE void Run(const float* gate, const float* up, float* h, int64_t n) {
    typename vec::Lanes<W>::F g, u, hv;
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      vec::Load(g, gate + i);
      vec::Load(u, up + i);
      Block(g, u, hv);
      vec::Store(h + i, hv);
    }
    if (i < n) {
      vec::LoadPartial(g, gate + i, n - i, 0.0f);
      vec::LoadPartial(u, up + i, n - i, 0.0f);
      Block(g, u, hv);
      vec::StorePartial(h + i, hv, n - i);
    }
  }
};

struct SwiGluBackwardKernel {
  template <class F>
  static FTD_VEC_INLINE void Block(const F& g, const F& u, const F& d, F& dg, F& du) {
    F sig;
    Sigmoid(g, sig);
    // d silu / dg = sig * (1 + g * (1 - sig)).
    dg = d * u * sig * (1.0f + g * (1.0f - sig));
    du = d * (g * sig);
  }
  template <int W>
  static FTD_VEC_INLINE void Run(const float* gate, const float* up, const float* dh, float* dgate, float* dup,
                                 int64_t n) {
    typename vec::Lanes<W>::F g, u, d, dg, du;
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      vec::Load(g, gate + i);
      vec::Load(u, up + i);
      vec::Load(d, dh + i);
      Block(g, u, d, dg, du);
      vec::Store(dgate + i, dg);
      vec::Store(dup + i, du);
    }
    if (i < n) {
      vec::LoadPartial(g, gate + i, n - i, 0.0f);
      vec::LoadPartial(u, up + i, n - i, 0.0f);
      vec::LoadPartial(d, dh + i, n - i, 0.0f);
      Block(g, u, d, dg, du);
      vec::StorePartial(dgate + i, dg, n - i);
      vec::StorePartial(dup + i, du, n - i);
    }
  }
};

}  // namespace

absl::Status SwiGluForwardCpu(const float* gate, const float* up, float* h, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i += kChunk) {
    vec::Run<SwiGluForwardKernel>(gate + i, up + i, h + i, std::min(kChunk, n - i));
  }
  return absl::OkStatus();
}

absl::Status SwiGluBackwardCpu(const float* gate, const float* up, const float* dh, float* dgate, float* dup,
                               int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i += kChunk) {
    vec::Run<SwiGluBackwardKernel>(gate + i, up + i, dh + i, dgate + i, dup + i, std::min(kChunk, n - i));
  }
  return absl::OkStatus();
}

}  // namespace ftd::cpu
