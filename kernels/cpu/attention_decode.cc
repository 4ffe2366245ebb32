// AttentionDecodeForwardCpu: the Tq new queries of a decoding step over the KV cache. Each (batch, query head,
// query) row is independent: scores against its visible cache rows, a softmax, the weighted sum of values. Rows
// run in parallel (OpenMP) once there is enough work: one token's step has Hq rows of kv_len * D each.
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_ops.h"

namespace ftd::cpu {

absl::Status AttentionDecodeForwardCpu(const AttentionDecodeShape& s, const float* q, const float* k,
                                       const float* v, float* out) {
  const int64_t Tq = s.q_len, D = s.head_dim, Hq = s.q_heads, group = s.q_heads / s.kv_heads;
  const int64_t ldq = Hq * D, ldkv = s.kv_heads * D;  // Row strides of q/out and of the cache.
  const int64_t first_pos = s.kv_len - Tq;            // Absolute position of query 0.
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const int64_t rows = s.batch * Hq * Tq;
  // Below ~64k multiply-adds a parallel region costs more than it saves.
  const bool parallel = rows > 1 && rows * s.kv_len * D >= (int64_t{1} << 16);
#pragma omp parallel if (parallel)
  {
    std::vector<float> score(static_cast<size_t>(s.kv_len));  // (kv_len) one row's scores, then probabilities
#pragma omp for schedule(static)
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t b = row / (Hq * Tq), h = (row / Tq) % Hq, i = row % Tq;
      const int64_t visible = first_pos + i + 1;  // Cache rows 0..first_pos + i.
      const float* qi = q + (b * Tq + i) * ldq + h * D;                 // (D)
      const float* kb = k + b * s.kv_capacity * ldkv + (h / group) * D;  // (kv_len, D), row stride ldkv
      const float* vb = v + b * s.kv_capacity * ldkv + (h / group) * D;  // (kv_len, D), row stride ldkv
      float mx = -INFINITY;
      for (int64_t u = 0; u < visible; ++u) {
        float dot = 0.0f;
        for (int64_t d = 0; d < D; ++d) dot += qi[d] * kb[u * ldkv + d];
        score[u] = dot * scale;
        mx = score[u] > mx ? score[u] : mx;
      }
      double sum = 0.0;
      for (int64_t u = 0; u < visible; ++u) {
        score[u] = std::exp(score[u] - mx);
        sum += score[u];
      }
      const float inv = static_cast<float>(1.0 / sum);
      float* oi = out + (b * Tq + i) * ldq + h * D;  // (D)
      for (int64_t d = 0; d < D; ++d) oi[d] = 0.0f;
      for (int64_t u = 0; u < visible; ++u) {
        const float p = score[u] * inv;
        for (int64_t d = 0; d < D; ++d) oi[d] += p * vb[u * ldkv + d];
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ftd::cpu
