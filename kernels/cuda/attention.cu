// AttentionForwardCuda / AttentionBackwardCuda / AttentionDecodeForwardCuda: causal GQA attention on the GPU with
// plain row kernels (one thread block per query row or per key row), the reference the fused flash path will be
// checked against. The saved state is the CPU backend's: the softmax probabilities (B, Hq, T, T), written in full
// with exact zeros where masked, so the backward needs no mask of its own and no atomics.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace ftd::cuda {
namespace {

constexpr int kThreads = 256;  // A multiple of the warp size: the warp loops and block reductions need whole warps.
constexpr int kWarps = kThreads / 32;
// Rows are grid-stride loops, so the grid stays well below gridDim.x's 2^31 - 1 for any B * H * T.
constexpr int64_t kMaxBlocks = int64_t{1} << 20;
// Keys (or queries) whose weights a block computes into shared memory before summing their rows: bounds the shared
// memory whatever T is.
constexpr int kChunk = 256;
// The default dynamic shared memory limit, which needs no opt-in; head_dim would have to pass ~2000 to exceed it.
constexpr int64_t kMaxSharedBytes = 48 * 1024;

unsigned int GridFor(int64_t rows) { return static_cast<unsigned int>(std::clamp<int64_t>(rows, 1, kMaxBlocks)); }

// The shape's numbers every kernel needs, passed by value.
struct Geometry {
  int64_t T;      // Query rows per batch row (seq, or q_len when decoding).
  int64_t D;
  int64_t Hq;
  int64_t Hkv;
  int64_t group;  // Query heads per kv head.
  int64_t ldq;    // Row stride of q, out, dout, dq: Hq * D.
  int64_t ldkv;   // Row stride of k, v, dk, dv: Hkv * D.
  // How a block's threads share a weighted sum of D-long rows (SumRows): `cols` threads cover the columns (all of D
  // when D fits in the block) and `parts` groups of them take every parts-th row, so a small D still keeps the whole
  // block busy. Each (part, column) accumulator lives in shared memory, parts * D floats, owned by one thread.
  int64_t cols;
  int64_t parts;
  float scale;
};

Geometry MakeGeometry(int64_t T, int64_t q_heads, int64_t kv_heads, int64_t head_dim) {
  const int64_t cols = std::min<int64_t>(head_dim, kThreads);
  return Geometry{T,
                  head_dim,
                  q_heads,
                  kv_heads,
                  q_heads / kv_heads,
                  q_heads * head_dim,
                  kv_heads * head_dim,
                  cols,
                  kThreads / cols,
                  1.0f / std::sqrt(static_cast<float>(head_dim))};
}

// Rows [c0, c0 + ChunkLen(c0, n)) are the chunk of at most kChunk rows that starts at c0 < n.
__device__ int64_t ChunkLen(int64_t c0, int64_t n) { return n - c0 < kChunk ? n - c0 : kChunk; }


// dot(a, b) over D by one warp (lanes over d, so b's row is read coalesced), returned to every lane. All 32 lanes
// must call it: callers branch on warp-uniform conditions only.
__device__ float WarpDot(const float* a, const float* b, int64_t D) {
  float s = 0.0f;
  for (int64_t d = threadIdx.x % 32; d < D; d += 32) s += a[d] * b[d];
  for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_xor_sync(0xffffffffu, s, offset);
  return s;
}

// acc[part * D + d] += sum over rows i = part, part + parts, .. < n of w[i] * rows[i * ld + d], for the thread's
// (part, d) slots (Geometry's cols and parts): no two threads touch one slot, so no barrier is needed inside. Zero
// weights (masked keys) are skipped, which also keeps unfilled cache rows unread. The caller syncs before and after
// (w and acc are shared).
__device__ void SumRows(float* acc, const float* w, int64_t n, const float* rows, int64_t ld, const Geometry& g) {
  const int64_t part = threadIdx.x / g.cols;
  if (part >= g.parts) return;
  for (int64_t d = threadIdx.x % g.cols; d < g.D; d += g.cols) {
    float a = 0.0f;
    for (int64_t i = part; i < n; i += g.parts) {
      const float wi = w[i];
      if (wi != 0.0f) a += wi * rows[i * ld + d];
    }
    acc[part * g.D + d] += a;
  }
}

// Zeroes the block's parts * D accumulator; the caller syncs before it is used.
__device__ void ZeroAcc(float* acc, const Geometry& g) {
  for (int64_t i = threadIdx.x; i < g.parts * g.D; i += blockDim.x) acc[i] = 0.0f;
}

// dst[d] = scale * the sum of the accumulator's parts for column d. The caller syncs after SumRows first.
__device__ void StoreAcc(float* dst, const float* acc, float scale, const Geometry& g) {
  for (int64_t d = threadIdx.x; d < g.D; d += blockDim.x) {
    float s = 0.0f;
    for (int64_t p = 0; p < g.parts; ++p) s += acc[p * g.D + d];
    dst[d] = s * scale;
  }
}

// One block per query row (b, h, t) (row index in probs' (B, Hq, T) order). Scores of the visible keys go into the
// row of probs (a warp per key), then the softmax in place (max, exps with the sum in double, normalise) with exact
// zeros for every masked u in [0, T), then out = P V over the visible keys.
// Dynamic shared memory: q's row (D) and the accumulator (parts * D).
__global__ void __launch_bounds__(kThreads)
    AttentionForwardKernel(Geometry g, const float* q, const float* k, const float* v, const int32_t* segment_ids,
                           float* out, float* probs, int64_t rows) {
  extern __shared__ float shared[];
  float* qs = shared;         // (D)
  float* acc = shared + g.D;  // (parts, D)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t T = g.T, D = g.D;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t t = row % T, h = (row / T) % g.Hq, b = row / (T * g.Hq), hk = h / g.group;
    const float* qt = q + (b * T + t) * g.ldq + h * D;  // (D)
    const float* kb = k + b * T * g.ldkv + hk * D;      // (T, D), row stride ldkv
    const float* vb = v + b * T * g.ldkv + hk * D;      // (T, D), row stride ldkv
    const int32_t* seg = segment_ids != nullptr ? segment_ids + b * T : nullptr;
    const int32_t seg_t = seg != nullptr ? seg[t] : 0;
    float* p = probs + row * T;  // (T)
    const int64_t n = t + 1;     // Keys 0..t, less those of other segments.
    // The previous row's readers of qs and acc are done before they are overwritten.
    __syncthreads();
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) qs[d] = qt[d];
    ZeroAcc(acc, g);
    __syncthreads();

    float mx = -INFINITY;
    for (int64_t u = warp; u < n; u += kWarps) {
      if (seg != nullptr && seg[u] != seg_t) continue;  // Warp-uniform: one u per warp.
      const float s = WarpDot(qs, kb + u * g.ldkv, D) * g.scale;
      if (lane == 0) p[u] = s;
      mx = fmaxf(mx, s);
    }
    mx = BlockMax(mx);  // Its barriers also publish the scores to the whole block. Finite: key t is always visible.

    double sum = 0.0;
    for (int64_t u = threadIdx.x; u < T; u += blockDim.x) {
      if (u < n && (seg == nullptr || seg[u] == seg_t)) {
        const float e = expf(p[u] - mx);
        p[u] = e;
        sum += e;
      } else {
        p[u] = 0.0f;
      }
    }
    const float inv = static_cast<float>(1.0 / BlockSum(sum));
    // Each thread scales the entries it wrote itself; the barrier then publishes them for SumRows.
    for (int64_t u = threadIdx.x; u < n; u += blockDim.x) p[u] *= inv;
    __syncthreads();

    SumRows(acc, p, n, vb, g.ldkv, g);
    __syncthreads();
    StoreAcc(out + (b * T + t) * g.ldq + h * D, acc, 1.0f, g);
  }
}

// dq and delta, one block per query row (b, h, t): delta = dot(dout_t, out_t) (in double, as the CPU's DotF64) is
// kept for the dk/dv kernel; dS_tu = P_tu (dout_t . v_u - delta) for the keys with P_tu != 0 (masked ones have
// exactly 0), a chunk at a time into shared memory, and dq_t = scale * sum_u dS_tu k_u.
// Dynamic shared memory: dout's row (D), the chunk's weights (kChunk) and the accumulator (parts * D).
__global__ void __launch_bounds__(kThreads)
    AttentionBackwardDqKernel(Geometry g, const float* k, const float* v, const float* out, const float* probs,
                              const float* dout, float* dq, float* delta, int64_t rows) {
  extern __shared__ float shared[];
  float* dos = shared;      // (D)
  float* w = shared + g.D;  // (kChunk)
  float* acc = w + kChunk;  // (parts, D)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t T = g.T, D = g.D;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t t = row % T, h = (row / T) % g.Hq, b = row / (T * g.Hq), hk = h / g.group;
    const int64_t at = (b * T + t) * g.ldq + h * D;  // Offset of row t of head h in (B, T, Hq, D).
    const float* kb = k + b * T * g.ldkv + hk * D;   // (T, D), row stride ldkv
    const float* vb = v + b * T * g.ldkv + hk * D;
    const float* p = probs + row * T;  // (T)
    const int64_t n = t + 1;
    __syncthreads();  // The previous row's readers of dos, w and acc are done.
    double dot = 0.0;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
      dos[d] = dout[at + d];
      dot += static_cast<double>(dout[at + d]) * out[at + d];
    }
    ZeroAcc(acc, g);
    const float dl = static_cast<float>(BlockSum(dot));  // Its barriers also publish dos and the zeroed acc.
    if (threadIdx.x == 0) delta[row] = dl;

    for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
      const int64_t cn = ChunkLen(c0, n);
      for (int64_t j = warp; j < cn; j += kWarps) {
        const int64_t u = c0 + j;
        const float pu = p[u];
        float ds = 0.0f;
        if (pu != 0.0f) ds = pu * (WarpDot(dos, vb + u * g.ldkv, D) - dl);  // Warp-uniform branch.
        if (lane == 0) w[j] = ds;
      }
      __syncthreads();
      SumRows(acc, w, cn, kb + c0 * g.ldkv, g.ldkv, g);
      __syncthreads();  // Before the next chunk overwrites w.
    }
    StoreAcc(dq + at, acc, g.scale, g);
  }
}

// dk and dv, one block per key row (b, kv head, u), summing over the group's query heads and the queries t >= u
// that see it, so each output row has one writer and needs no atomics: dv_u = sum P_tu dout_t and
// dk_u = scale * sum dS_tu q_t, with dS_tu = P_tu (dout_t . v_u - delta_t) recomputed (cheaper in memory than a
// (B, Hq, T, T) dS buffer). Dynamic shared memory: v's row (D), the chunk's P and dS (2 * kChunk) and the two
// accumulators (2 * parts * D).
__global__ void __launch_bounds__(kThreads)
    AttentionBackwardDkDvKernel(Geometry g, const float* q, const float* v, const float* probs, const float* dout,
                                const float* delta, float* dk, float* dv, int64_t rows) {
  extern __shared__ float shared[];
  float* vs = shared;                      // (D)
  float* wp = shared + g.D;                // (kChunk)
  float* wds = wp + kChunk;                // (kChunk)
  float* acc_dk = wds + kChunk;            // (parts, D)
  float* acc_dv = acc_dk + g.parts * g.D;  // (parts, D)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t T = g.T, D = g.D;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t u = row % T, hk = (row / T) % g.Hkv, b = row / (T * g.Hkv);
    const int64_t at = (b * T + u) * g.ldkv + hk * D;  // Offset of row u of kv head hk in (B, T, Hkv, D).
    __syncthreads();  // The previous row's readers of the shared buffers are done.
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) vs[d] = v[at + d];
    ZeroAcc(acc_dk, g);
    ZeroAcc(acc_dv, g);
    __syncthreads();
    for (int64_t h = hk * g.group; h < (hk + 1) * g.group; ++h) {
      const float* pc = probs + (b * g.Hq + h) * T * T + u;  // Column u of (T, T): entry t at pc[t * T].
      const float* qb = q + b * T * g.ldq + h * D;           // (T, D), row stride ldq
      const float* dob = dout + b * T * g.ldq + h * D;       // (T, D), row stride ldq
      const float* dl = delta + (b * g.Hq + h) * T;          // (T)
      for (int64_t c0 = u; c0 < T; c0 += kChunk) {
        const int64_t cn = ChunkLen(c0, T);
        for (int64_t j = warp; j < cn; j += kWarps) {
          const int64_t t = c0 + j;
          const float pt = pc[t * T];
          float ds = 0.0f;
          if (pt != 0.0f) ds = pt * (WarpDot(vs, dob + t * g.ldq, D) - dl[t]);  // Warp-uniform branch.
          if (lane == 0) {
            wp[j] = pt;
            wds[j] = ds;
          }
        }
        __syncthreads();
        SumRows(acc_dv, wp, cn, dob + c0 * g.ldq, g.ldq, g);
        SumRows(acc_dk, wds, cn, qb + c0 * g.ldq, g.ldq, g);
        __syncthreads();  // Before the next chunk overwrites wp and wds.
      }
    }
    StoreAcc(dk + at, acc_dk, g.scale, g);
    StoreAcc(dv + at, acc_dv, 1.0f, g);
  }
}

// One block per new query (b, h, i) over its visible cache rows 0..first_pos + i, in two passes so that no
// (Tq, kv_len) score buffer is needed: the max of the scores, then the scores again (the same WarpDot, so the
// same values), their exps a chunk at a time into shared memory, summed in double and weighting v's rows.
// Dynamic shared memory: q's row (D), the chunk's weights (kChunk) and the accumulator (parts * D).
__global__ void __launch_bounds__(kThreads)
    AttentionDecodeKernel(Geometry g, int64_t first_pos, int64_t kv_capacity, const float* q, const float* k,
                          const float* v, float* out, int64_t rows) {
  extern __shared__ float shared[];
  float* qs = shared;       // (D)
  float* w = shared + g.D;  // (kChunk)
  float* acc = w + kChunk;  // (parts, D)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t Tq = g.T, D = g.D;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t i = row % Tq, h = (row / Tq) % g.Hq, b = row / (Tq * g.Hq), hk = h / g.group;
    const int64_t at = (b * Tq + i) * g.ldq + h * D;          // Offset of query i of head h in (B, Tq, Hq, D).
    const float* kb = k + b * kv_capacity * g.ldkv + hk * D;  // (kv_len, D), row stride ldkv
    const float* vb = v + b * kv_capacity * g.ldkv + hk * D;
    const int64_t n = first_pos + i + 1;  // Visible cache rows.
    __syncthreads();  // The previous row's readers of the shared buffers are done.
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) qs[d] = q[at + d];
    ZeroAcc(acc, g);
    __syncthreads();

    float mx = -INFINITY;
    for (int64_t u = warp; u < n; u += kWarps) mx = fmaxf(mx, WarpDot(qs, kb + u * g.ldkv, D) * g.scale);
    mx = BlockMax(mx);

    double sum = 0.0;  // Lane 0 of each warp sums the exps it wrote.
    for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
      const int64_t cn = ChunkLen(c0, n);
      for (int64_t j = warp; j < cn; j += kWarps) {
        const float e = expf(WarpDot(qs, kb + (c0 + j) * g.ldkv, D) * g.scale - mx);
        if (lane == 0) {
          w[j] = e;
          sum += e;
        }
      }
      __syncthreads();
      SumRows(acc, w, cn, vb + c0 * g.ldkv, g.ldkv, g);
      __syncthreads();  // Before the next chunk overwrites w.
    }
    const float inv = static_cast<float>(1.0 / BlockSum(sum));
    StoreAcc(out + at, acc, inv, g);
  }
}

// UNIMPLEMENTED when a kernel's dynamic shared memory would pass the no-opt-in limit (a head_dim far beyond any
// model's); otherwise OK.
absl::Status CheckShared(const char* op, int64_t bytes, int64_t head_dim) {
  if (bytes <= kMaxSharedBytes) return absl::OkStatus();
  return absl::UnimplementedError(
      absl::StrCat(op, ": head_dim ", head_dim, " needs ", bytes, " bytes of shared memory, over the CUDA kernels' ",
                   kMaxSharedBytes));
}

}  // namespace

absl::Status AttentionForwardCuda(const CudaContext& ctx, const AttentionShape& s, const float* q, const float* k,
                                  const float* v, const int32_t* segment_ids, float* out, float* probs) {
  const Geometry g = MakeGeometry(s.seq, s.q_heads, s.kv_heads, s.head_dim);
  const int64_t shared = (g.D + g.parts * g.D) * static_cast<int64_t>(sizeof(float));
  if (absl::Status st = CheckShared("AttentionForwardCuda", shared, g.D); !st.ok()) return st;
  const int64_t rows = s.batch * s.q_heads * s.seq;
  AttentionForwardKernel<<<GridFor(rows), kThreads, static_cast<size_t>(shared), ctx.stream>>>(
      g, q, k, v, segment_ids, out, probs, rows);
  return LaunchStatus("AttentionForwardKernel");
}

absl::Status AttentionBackwardCuda(const CudaContext& ctx, const AttentionShape& s, const float* q, const float* k,
                                   const float* v, const int32_t* /*segment_ids*/, const float* out,
                                   const float* probs, const float* dout, float* dq, float* dk, float* dv) {
  // The segments are not read: the masked probabilities are exactly 0, which zeroes their gradients.
  const Geometry g = MakeGeometry(s.seq, s.q_heads, s.kv_heads, s.head_dim);
  const int64_t dq_shared = (g.D + kChunk + g.parts * g.D) * static_cast<int64_t>(sizeof(float));
  const int64_t dkdv_shared = (g.D + 2 * kChunk + 2 * g.parts * g.D) * static_cast<int64_t>(sizeof(float));
  if (absl::Status st = CheckShared("AttentionBackwardCuda", std::max(dq_shared, dkdv_shared), g.D); !st.ok()) {
    return st;
  }
  const int64_t q_rows = s.batch * s.q_heads * s.seq;
  // delta (B, Hq, T): rowsum(dout * out), made by the dq kernel and read by the dk/dv kernel.
  absl::StatusOr<void*> scratch = ctx.scratch(q_rows * static_cast<int64_t>(sizeof(float)));
  if (!scratch.ok()) return scratch.status();
  float* delta = static_cast<float*>(*scratch);

  AttentionBackwardDqKernel<<<GridFor(q_rows), kThreads, static_cast<size_t>(dq_shared), ctx.stream>>>(
      g, k, v, out, probs, dout, dq, delta, q_rows);
  if (absl::Status st = LaunchStatus("AttentionBackwardDqKernel"); !st.ok()) return st;

  const int64_t kv_rows = s.batch * s.kv_heads * s.seq;
  AttentionBackwardDkDvKernel<<<GridFor(kv_rows), kThreads, static_cast<size_t>(dkdv_shared), ctx.stream>>>(
      g, q, v, probs, dout, delta, dk, dv, kv_rows);
  return LaunchStatus("AttentionBackwardDkDvKernel");
}

absl::Status AttentionDecodeForwardCuda(const CudaContext& ctx, const AttentionDecodeShape& s, const float* q,
                                        const float* k, const float* v, float* out) {
  const Geometry g = MakeGeometry(s.q_len, s.q_heads, s.kv_heads, s.head_dim);
  const int64_t shared = (g.D + kChunk + g.parts * g.D) * static_cast<int64_t>(sizeof(float));
  if (absl::Status st = CheckShared("AttentionDecodeForwardCuda", shared, g.D); !st.ok()) return st;
  const int64_t rows = s.batch * s.q_heads * s.q_len;
  AttentionDecodeKernel<<<GridFor(rows), kThreads, static_cast<size_t>(shared), ctx.stream>>>(
      g, s.kv_len - s.q_len, s.kv_capacity, q, k, v, out, rows);
  return LaunchStatus("AttentionDecodeKernel");
}

}  // namespace ftd::cuda
