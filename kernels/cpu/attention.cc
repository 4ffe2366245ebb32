// AttentionForwardCpu / AttentionBackwardCpu: causal GQA attention. The work is split by (batch, kv head): each
// task runs the group's query heads one after another (so the kv gradients it sums are its own) with
// single-threaded sgemms over causal blocks of kBlock queries, which touch only the keys a block can see (5/8 of
// the full T x T at T = 256). Segment ids keep packed sequences from attending to each other; a block then also
// starts at the first key any of its queries can see (its first query's document start when documents are
// contiguous), so a row of many short documents costs about the sum of their own attentions. The probabilities
// (B, Hq, T, T) are the saved state, written for every (t, u) with the block's first key <= u <= t and 0 for the
// masked u of a computed block: the backward reads them, over the same keys, instead of recomputing QK^T.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/vector_math.h"

namespace ftd::cpu {
namespace {

// Queries per causal block: block i (rows i*kBlock ..) sees keys [0, (i+1)*kBlock), or from its first key when
// the rows are packed (BlockFirstKeys).
constexpr int64_t kBlock = 64;

// Softmax in place over the unmasked part of rows [t0, t1) of S, whose rows have stride ld and computed columns
// [k0, width): token t sees k0 <= u <= t with the same segment (k0 is at or before t's first key). Masked entries
// become exactly 0, so the backward needs no mask of its own.
void MaskedSoftmaxRows(float* s, int64_t ld, int64_t t0, int64_t t1, int64_t k0, int64_t width, const int32_t* seg) {
  for (int64_t t = t0; t < t1; ++t) {
    float* row = s + t * ld;
    vec::SoftmaxRow(row + k0, t + 1 - k0, seg != nullptr ? seg + k0 : nullptr, seg != nullptr ? seg[t] : 0);
    for (int64_t u = t + 1; u < width; ++u) row[u] = 0.0f;
  }
}

// The first key of every causal block of every batch row, (B, ceil(T / kBlock)): the earliest u that one of the
// block's queries t may see, i.e. min over them of the first u <= t with seg[u] == seg[t] (segment ids need not
// be contiguous). All 0 without segment ids, which keeps that path exactly the unpacked one.
std::vector<int64_t> BlockFirstKeys(const AttentionShape& s, const int32_t* segment_ids) {
  const int64_t T = s.seq, blocks = (T + kBlock - 1) / kBlock;
  std::vector<int64_t> first(static_cast<size_t>(s.batch * blocks), 0);
  if (segment_ids == nullptr) return first;
  std::unordered_map<int32_t, int64_t> seen;  // segment id -> its first token in the row
  for (int64_t b = 0; b < s.batch; ++b) {
    const int32_t* seg = segment_ids + b * T;
    seen.clear();
    for (int64_t t = 0; t < T; ++t) {
      const int64_t u = seen.emplace(seg[t], t).first->second;
      int64_t& k0 = first[b * blocks + t / kBlock];
      k0 = t % kBlock == 0 ? u : std::min(k0, u);
    }
  }
  return first;
}

struct Geometry {
  int64_t T, D, group, ldq, ldkv;
  float scale;
  explicit Geometry(const AttentionShape& s)
      : T(s.seq),
        D(s.head_dim),
        group(s.q_heads / s.kv_heads),
        ldq(s.q_heads * s.head_dim),   // Row stride of (B, T, Hq, D) at fixed b, h.
        ldkv(s.kv_heads * s.head_dim),  // Row stride of (B, T, Hkv, D).
        scale(1.0f / std::sqrt(static_cast<float>(s.head_dim))) {}
};

}  // namespace

absl::Status AttentionForwardCpu(const AttentionShape& s, const float* q, const float* k, const float* v,
                                 const int32_t* segment_ids, float* out, float* probs) {
  const Geometry g(s);
  const int64_t T = g.T, D = g.D, tasks = s.batch * s.kv_heads, blocks = (T + kBlock - 1) / kBlock;
  const std::vector<int64_t> first_keys = BlockFirstKeys(s, segment_ids);
  // One task per (b, kv head); OpenBLAS runs single-threaded inside a parallel region.
#pragma omp parallel for schedule(dynamic, 1) if (tasks > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t b = task / s.kv_heads, hk = task % s.kv_heads;
    const int32_t* seg = segment_ids != nullptr ? segment_ids + b * T : nullptr;
    const int64_t* first = first_keys.data() + b * blocks;
    const float* kb = k + b * T * g.ldkv + hk * D;  // (T, D), row stride ldkv
    const float* vb = v + b * T * g.ldkv + hk * D;
    for (int64_t h = hk * g.group; h < (hk + 1) * g.group; ++h) {
      const float* qb = q + b * T * g.ldq + h * D;      // (T, D), row stride ldq
      float* p = probs + (b * s.q_heads + h) * T * T;  // (T, T)
      float* ob = out + b * T * g.ldq + h * D;          // (T, D), row stride ldq
      for (int64_t t0 = 0; t0 < T; t0 += kBlock) {
        const int64_t rows = std::min(kBlock, T - t0), width = t0 + rows;
        const int64_t k0 = first[t0 / kBlock], keys = width - k0;  // keys [k0, width)
        Gemm(false, true, rows, keys, D, g.scale, qb + t0 * g.ldq, kb + k0 * g.ldkv, 0.0f, p + t0 * T + k0, g.ldq,
             g.ldkv, T);
        MaskedSoftmaxRows(p, T, t0, t0 + rows, k0, width, seg);
        Gemm(false, false, rows, D, keys, 1.0f, p + t0 * T + k0, vb + k0 * g.ldkv, 0.0f, ob + t0 * g.ldq, T, g.ldkv,
             g.ldq);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status AttentionBackwardCpu(const AttentionShape& s, const float* q, const float* k, const float* v,
                                  const int32_t* segment_ids, const float* out, const float* probs,
                                  const float* dout, float* dq, float* dk, float* dv) {
  // Masked probabilities are 0, which zeroes their gradients without the mask; the segments only give each
  // block's first key, as in the forward.
  const Geometry g(s);
  const int64_t T = g.T, D = g.D, tasks = s.batch * s.kv_heads, blocks = (T + kBlock - 1) / kBlock;
  const std::vector<int64_t> first_keys = BlockFirstKeys(s, segment_ids);
#pragma omp parallel if (tasks > 1)
  {
    std::vector<float> ds(static_cast<size_t>(kBlock * T));  // (kBlock, T): dP, then dS in place, of one block
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t b = task / s.kv_heads, hk = task % s.kv_heads;
      const int64_t* first = first_keys.data() + b * blocks;
      const float* kb = k + b * T * g.ldkv + hk * D;
      const float* vb = v + b * T * g.ldkv + hk * D;
      float* dkb = dk + b * T * g.ldkv + hk * D;
      float* dvb = dv + b * T * g.ldkv + hk * D;
      // dk and dv sum over the group's query heads: this task owns them, so it clears them first.
      for (int64_t t = 0; t < T; ++t) {
        std::memset(dkb + t * g.ldkv, 0, static_cast<size_t>(D) * sizeof(float));
        std::memset(dvb + t * g.ldkv, 0, static_cast<size_t>(D) * sizeof(float));
      }
      for (int64_t h = hk * g.group; h < (hk + 1) * g.group; ++h) {
        const float* qb = q + b * T * g.ldq + h * D;
        const float* ob = out + b * T * g.ldq + h * D;
        const float* dob = dout + b * T * g.ldq + h * D;
        const float* p = probs + (b * s.q_heads + h) * T * T;
        float* dqb = dq + b * T * g.ldq + h * D;
        for (int64_t t0 = 0; t0 < T; t0 += kBlock) {
          const int64_t rows = std::min(kBlock, T - t0), width = t0 + rows;
          const int64_t k0 = first[t0 / kBlock], keys = width - k0;  // keys [k0, width), as the forward's
          const float* pb = p + t0 * T + k0;     // (rows, keys) of stride T
          const float* dobk = dob + t0 * g.ldq;  // (rows, D)
          // dV[k0:width] += P_blk^T dO_blk
          Gemm(true, false, keys, D, rows, 1.0f, pb, dobk, 1.0f, dvb + k0 * g.ldkv, T, g.ldq, g.ldkv);
          // dP_blk = dO_blk V[k0:width]^T, column j of ds is key k0 + j
          Gemm(false, true, rows, keys, D, 1.0f, dobk, vb + k0 * g.ldkv, 0.0f, ds.data(), g.ldq, g.ldkv, T);
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t t = t0 + r;
            const float dl = static_cast<float>(vec::DotF64(dob + t * g.ldq, ob + t * g.ldq, D));
            const float* pr = pb + r * T;
            float* row = ds.data() + r * T;
            // dS = P * (dP - delta); only u <= t can be non-zero.
            vec::SoftmaxBackwardRow(row, pr, dl, t + 1 - k0);
            for (int64_t j = t + 1 - k0; j < keys; ++j) row[j] = 0.0f;
          }
          // dQ_blk = scale * dS_blk K[k0:width]
          Gemm(false, false, rows, D, keys, g.scale, ds.data(), kb + k0 * g.ldkv, 0.0f, dqb + t0 * g.ldq, T, g.ldkv,
               g.ldq);
          // dK[k0:width] += scale * dS_blk^T Q_blk
          Gemm(true, false, keys, D, rows, g.scale, ds.data(), qb + t0 * g.ldq, 1.0f, dkb + k0 * g.ldkv, T, g.ldq,
               g.ldkv);
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ftd::cpu
