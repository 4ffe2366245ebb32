// AttentionForwardCpu / AttentionBackwardCpu: causal GQA attention, per (batch, query head) two sgemms around a
// masked row softmax. The probabilities (B, Hq, T, T) are the saved state: the backward reads them instead of
// recomputing QK^T. Segment ids keep packed sequences from attending to each other.
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/gemm.h"

namespace ftd::cpu {
namespace {

// Softmax in place over the unmasked part of each row of S (T, T): token t sees u <= t with the same segment.
// Masked entries become exactly 0, so the backward needs no mask of its own.
void MaskedSoftmaxRows(float* s, int64_t seq, const int32_t* seg) {
#pragma omp parallel for schedule(static) if (seq >= 64)
  for (int64_t t = 0; t < seq; ++t) {
    float* row = s + t * seq;
    float mx = row[t];
    for (int64_t u = 0; u <= t; ++u) {
      if (seg != nullptr && seg[u] != seg[t]) continue;
      mx = row[u] > mx ? row[u] : mx;
    }
    double sum = 0.0;
    for (int64_t u = 0; u <= t; ++u) {
      if (seg != nullptr && seg[u] != seg[t]) {
        row[u] = 0.0f;
        continue;
      }
      const float e = std::exp(row[u] - mx);
      row[u] = e;
      sum += e;
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t u = 0; u <= t; ++u) row[u] *= inv;
    for (int64_t u = t + 1; u < seq; ++u) row[u] = 0.0f;
  }
}

}  // namespace

absl::Status AttentionForwardCpu(const AttentionShape& s, const float* q, const float* k, const float* v,
                                 const int32_t* segment_ids, float* out, float* probs) {
  const int64_t T = s.seq, D = s.head_dim, group = s.q_heads / s.kv_heads;
  const int64_t ldq = s.q_heads * D, ldkv = s.kv_heads * D;  // Row strides of (B, T, H, D) at fixed b, h.
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (int64_t b = 0; b < s.batch; ++b) {
    const int32_t* seg = segment_ids != nullptr ? segment_ids + b * T : nullptr;
    for (int64_t h = 0; h < s.q_heads; ++h) {
      const int64_t hk = h / group;
      const float* qb = q + b * T * ldq + h * D;      // (T, D), row stride ldq
      const float* kb = k + b * T * ldkv + hk * D;    // (T, D), row stride ldkv
      const float* vb = v + b * T * ldkv + hk * D;    // (T, D), row stride ldkv
      float* p = probs + (b * s.q_heads + h) * T * T;  // (T, T)
      float* ob = out + b * T * ldq + h * D;          // (T, D), row stride ldq
      Gemm(false, true, T, T, D, scale, qb, kb, 0.0f, p, ldq, ldkv, T);  // S = scale * Q K^T
      MaskedSoftmaxRows(p, T, seg);
      Gemm(false, false, T, D, T, 1.0f, p, vb, 0.0f, ob, T, ldkv, ldq);  // O = P V
    }
  }
  return absl::OkStatus();
}

absl::Status AttentionBackwardCpu(const AttentionShape& s, const float* q, const float* k, const float* v,
                                  const int32_t* segment_ids, const float* out, const float* probs,
                                  const float* dout, float* dq, float* dk, float* dv) {
  (void)segment_ids;  // Masked probabilities are 0, which zeroes their gradients without the mask.
  const int64_t T = s.seq, D = s.head_dim, group = s.q_heads / s.kv_heads;
  const int64_t ldq = s.q_heads * D, ldkv = s.kv_heads * D;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const int64_t kv_elems = s.batch * T * ldkv;
  std::memset(dk, 0, static_cast<size_t>(kv_elems) * sizeof(float));  // Summed over each group's query heads.
  std::memset(dv, 0, static_cast<size_t>(kv_elems) * sizeof(float));
  std::vector<float> ds(static_cast<size_t>(T * T));  // (T, T): dP, then dS in place
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t h = 0; h < s.q_heads; ++h) {
      const int64_t hk = h / group;
      const float* qb = q + b * T * ldq + h * D;
      const float* kb = k + b * T * ldkv + hk * D;
      const float* vb = v + b * T * ldkv + hk * D;
      const float* ob = out + b * T * ldq + h * D;
      const float* dob = dout + b * T * ldq + h * D;
      const float* p = probs + (b * s.q_heads + h) * T * T;
      float* dqb = dq + b * T * ldq + h * D;
      float* dkb = dk + b * T * ldkv + hk * D;
      float* dvb = dv + b * T * ldkv + hk * D;
      Gemm(true, false, T, D, T, 1.0f, p, dob, 1.0f, dvb, T, ldq, ldkv);        // dV += P^T dO
      Gemm(false, true, T, T, D, 1.0f, dob, vb, 0.0f, ds.data(), ldq, ldkv, T);  // dP = dO V^T
#pragma omp parallel for schedule(static) if (T >= 64)
      for (int64_t t = 0; t < T; ++t) {
        double acc = 0.0;
        for (int64_t d = 0; d < D; ++d) acc += static_cast<double>(dob[t * ldq + d]) * ob[t * ldq + d];
        const float dl = static_cast<float>(acc);
        const float* pr = p + t * T;
        float* row = ds.data() + t * T;
        // dS = P * (dP - delta); only u <= t can be non-zero.
        for (int64_t u = 0; u <= t; ++u) row[u] = pr[u] * (row[u] - dl);
        for (int64_t u = t + 1; u < T; ++u) row[u] = 0.0f;
      }
      Gemm(false, false, T, D, T, scale, ds.data(), kb, 0.0f, dqb, T, ldkv, ldq);  // dQ = scale * dS K
      Gemm(true, false, T, D, T, scale, ds.data(), qb, 1.0f, dkb, T, ldq, ldkv);   // dK += scale * dS^T Q
    }
  }
  return absl::OkStatus();
}

}  // namespace ftd::cpu
