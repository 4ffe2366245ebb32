// AttentionDecodeForwardCpu: the Tq new queries of a decoding step over the KV cache, by one of two paths. A
// step of a few tokens runs row by row: each (batch, query head, query) row is independent (scores against its
// visible cache rows, a softmax, the weighted sum of values). A prefill of many queries (a prompt, a multiple-choice
// item's shared context) runs as the training forward does (attention.cc): per (batch, kv head), causal blocks of
// kBlock queries as two sgemms each over the keys the block can see. Row by row, a prefill re-reads the whole
// visible cache once per query with D-long dot products; the blocked sgemms read it once per block.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/vector_math.h"

namespace ftd::cpu {
namespace {

// Queries per causal block of the blocked path.
constexpr int64_t kBlock = 64;
// New queries from which kAuto takes the blocked path: below it the sgemm calls cost more than the row loops.
constexpr int64_t kBlockedMinQueries = 8;
// Multiply-adds below which a parallel region costs more than it saves: the row path's count (one token's step has
// Hq rows of kv_len * D each) and the blocked path's, which is AttentionForwardCpu's.
constexpr int64_t kRowsParallelMinWork = int64_t{1} << 16;
constexpr int64_t kBlockedParallelMinWork = int64_t{1} << 18;

struct Geometry {
  int64_t Tq, D, Hq, group, ldq, ldkv, first_pos;
  float scale;
  explicit Geometry(const AttentionDecodeShape& s)
      : Tq(s.q_len),
        D(s.head_dim),
        Hq(s.q_heads),
        group(s.q_heads / s.kv_heads),
        ldq(s.q_heads * s.head_dim),      // Row stride of q and out, (B, Tq, Hq, D).
        ldkv(s.kv_heads * s.head_dim),    // Row stride of the cache, (B, kv_capacity, Hkv, D).
        first_pos(s.kv_len - s.q_len),    // Absolute position of query 0.
        scale(1.0f / std::sqrt(static_cast<float>(s.head_dim))) {}
};

void DecodeRows(const AttentionDecodeShape& s, const float* q, const float* k, const float* v, float* out) {
  const Geometry g(s);
  const int64_t Tq = g.Tq, D = g.D, Hq = g.Hq;
  const int64_t rows = s.batch * Hq * Tq;
  const bool parallel = rows > 1 && rows * s.kv_len * D >= kRowsParallelMinWork;
#pragma omp parallel if (parallel)
  {
    std::vector<float> score(static_cast<size_t>(s.kv_len));  // (kv_len) one row's scores, then probabilities
#pragma omp for schedule(static)
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t b = row / (Hq * Tq), h = (row / Tq) % Hq, i = row % Tq;
      const int64_t visible = g.first_pos + i + 1;  // Cache rows 0..first_pos + i.
      const float* qi = q + (b * Tq + i) * g.ldq + h * D;                   // (D)
      const float* kb = k + b * s.kv_capacity * g.ldkv + (h / g.group) * D;  // (kv_len, D), row stride ldkv
      const float* vb = v + b * s.kv_capacity * g.ldkv + (h / g.group) * D;  // (kv_len, D), row stride ldkv
      float mx = -INFINITY;
      for (int64_t u = 0; u < visible; ++u) {
        float dot = 0.0f;
        for (int64_t d = 0; d < D; ++d) dot += qi[d] * kb[u * g.ldkv + d];
        score[u] = dot * g.scale;
        mx = score[u] > mx ? score[u] : mx;
      }
      double sum = 0.0;
      for (int64_t u = 0; u < visible; ++u) {
        score[u] = std::exp(score[u] - mx);
        sum += score[u];
      }
      const float inv = static_cast<float>(1.0 / sum);
      float* oi = out + (b * Tq + i) * g.ldq + h * D;  // (D)
      for (int64_t d = 0; d < D; ++d) oi[d] = 0.0f;
      for (int64_t u = 0; u < visible; ++u) {
        const float p = score[u] * inv;
        for (int64_t d = 0; d < D; ++d) oi[d] += p * vb[u * g.ldkv + d];
      }
    }
  }
}

void DecodeBlocked(const AttentionDecodeShape& s, const float* q, const float* k, const float* v, float* out) {
  const Geometry g(s);
  const int64_t Tq = g.Tq, D = g.D, tasks = s.batch * s.kv_heads;
  // Query i sees first_pos + i + 1 keys: about Tq * (first_pos + Tq / 2) * D multiply-adds per head, twice.
  const int64_t work = s.batch * g.Hq * Tq * (g.first_pos + Tq / 2 + 1) * D * 2;
  // One task per (b, kv head), as the training forward; OpenBLAS runs single-threaded inside a parallel region.
#pragma omp parallel if (tasks > 1 && work >= kBlockedParallelMinWork)
  {
    // (kBlock, kv_len) one block's scores, then probabilities; row r's keys past its own are 0.
    std::vector<float> p(static_cast<size_t>(std::min(kBlock, Tq) * s.kv_len));
    const int64_t ldp = s.kv_len;
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t b = task / s.kv_heads, hk = task % s.kv_heads;
      const float* kb = k + b * s.kv_capacity * g.ldkv + hk * D;  // (kv_len, D), row stride ldkv
      const float* vb = v + b * s.kv_capacity * g.ldkv + hk * D;
      for (int64_t h = hk * g.group; h < (hk + 1) * g.group; ++h) {
        const float* qb = q + b * Tq * g.ldq + h * D;  // (Tq, D), row stride ldq
        float* ob = out + b * Tq * g.ldq + h * D;      // (Tq, D), row stride ldq
        for (int64_t t0 = 0; t0 < Tq; t0 += kBlock) {
          // The block's queries t0.. see keys [0, width): its last one sees them all, row r the first
          // first_pos + t0 + r + 1. Keys past width may be unfilled cache rows and are never read.
          const int64_t rows = std::min(kBlock, Tq - t0), width = g.first_pos + t0 + rows;
          Gemm(false, true, rows, width, D, g.scale, qb + t0 * g.ldq, kb, 0.0f, p.data(), g.ldq, g.ldkv, ldp);
          for (int64_t r = 0; r < rows; ++r) {
            float* row = p.data() + r * ldp;
            const int64_t visible = g.first_pos + t0 + r + 1;
            vec::SoftmaxRow(row, visible);
            std::fill(row + visible, row + width, 0.0f);
          }
          Gemm(false, false, rows, D, width, 1.0f, p.data(), vb, 0.0f, ob + t0 * g.ldq, ldp, g.ldkv, g.ldq);
        }
      }
    }
  }
}

}  // namespace

absl::Status AttentionDecodeForwardCpu(const AttentionDecodeShape& s, const float* q, const float* k,
                                       const float* v, float* out, AttentionDecodePath path) {
  if (path == AttentionDecodePath::kAuto) {
    path = s.q_len >= kBlockedMinQueries ? AttentionDecodePath::kBlocked : AttentionDecodePath::kRows;
  }
  if (path == AttentionDecodePath::kBlocked) {
    DecodeBlocked(s, q, k, v, out);
  } else {
    DecodeRows(s, q, k, v, out);
  }
  return absl::OkStatus();
}

}  // namespace ftd::cpu
