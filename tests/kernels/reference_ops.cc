// The double-precision reference ops of the op harness: the simplest loops that state each op's math.
#include "tests/kernels/reference_ops.h"

#include <algorithm>
#include <cmath>

#include "kernels/philox.h"

namespace ftd::testing {

Vec RefMatmul(const MatmulShape& s, double alpha, const Vec& a, const Vec& b, double beta, const Vec& c0) {
  Vec c = c0;
  for (int64_t bi = 0; bi < s.batch; ++bi) {
    const int64_t oa = bi * s.stride_a, ob = bi * s.stride_b, oc = bi * s.stride_c;
    for (int64_t i = 0; i < s.m; ++i) {
      for (int64_t j = 0; j < s.n; ++j) {
        double acc = 0.0;
        for (int64_t p = 0; p < s.k; ++p) {
          const double av = s.trans_a == Transpose::kYes ? a[oa + p * s.m + i] : a[oa + i * s.k + p];
          const double bv = s.trans_b == Transpose::kYes ? b[ob + j * s.k + p] : b[ob + p * s.n + j];
          acc += av * bv;
        }
        c[oc + i * s.n + j] = alpha * acc + beta * c0[oc + i * s.n + j];
      }
    }
  }
  return c;
}

Vec RefEmbedding(const std::vector<int32_t>& ids, const Vec& table, int64_t dim) {
  Vec out;
  for (int32_t id : ids) {
    for (int64_t c = 0; c < dim; ++c) out.push_back(table[id * dim + c]);
  }
  return out;
}

Vec RefRmsNorm(const Vec& x, const Vec& w, double eps, int64_t rows, int64_t dim) {
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ms = 0.0;
    for (int64_t c = 0; c < dim; ++c) ms += x[r * dim + c] * x[r * dim + c];
    ms /= static_cast<double>(dim);
    for (int64_t c = 0; c < dim; ++c) y[r * dim + c] = x[r * dim + c] / std::sqrt(ms + eps) * w[c];
  }
  return y;
}

Vec RefRope(const RopeShape& s, const Vec& x, const Vec& cos, const Vec& sin, const std::vector<int32_t>& positions) {
  // HF: q * cos + rotate_half(q) * sin with cos, sin = cat(freqs, freqs) and rotate_half(q) = cat(-q2, q1).
  const int64_t D = s.head_dim, half = D / 2;
  Vec y(x.size());
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t t = 0; t < s.seq; ++t) {
      const int64_t pos = positions.empty() ? t : positions[b * s.seq + t];
      for (int64_t h = 0; h < s.heads; ++h) {
        const int64_t base = ((b * s.seq + t) * s.heads + h) * D;
        for (int64_t d = 0; d < D; ++d) {
          const int64_t i = d % half;
          const double rot = d < half ? -x[base + d + half] : x[base + d - half];
          y[base + d] = x[base + d] * cos[pos * half + i] + rot * sin[pos * half + i];
        }
      }
    }
  }
  return y;
}

namespace {

// One query's attention: out (D) += sum_u softmax_u(scale * q . k_u) v_u over the keys u in [0, n) that keep(u)
// accepts. Key and value rows u start at k + u * ld and v + u * ld.
template <typename Keep>
void RefAttendRow(const double* q, const double* k, const double* v, int64_t ld, int64_t n, int64_t D, Keep keep,
                  double* out) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  std::vector<double> score(static_cast<size_t>(n), -INFINITY);
  double mx = -INFINITY;
  for (int64_t u = 0; u < n; ++u) {
    if (!keep(u)) continue;
    double dot = 0.0;
    for (int64_t d = 0; d < D; ++d) dot += q[d] * k[u * ld + d];
    score[u] = dot * scale;
    mx = std::max(mx, score[u]);
  }
  double sum = 0.0;
  for (int64_t u = 0; u < n; ++u) sum += std::isinf(score[u]) ? 0.0 : std::exp(score[u] - mx);
  for (int64_t u = 0; u < n; ++u) {
    if (std::isinf(score[u])) continue;
    const double p = std::exp(score[u] - mx) / sum;
    for (int64_t d = 0; d < D; ++d) out[d] += p * v[u * ld + d];
  }
}

}  // namespace

Vec RefAttention(const AttentionShape& s, const Vec& q, const Vec& k, const Vec& v,
                 const std::vector<int32_t>& segment_ids) {
  const int64_t T = s.seq, D = s.head_dim, Hq = s.q_heads, Hkv = s.kv_heads;
  Vec out(q.size(), 0.0);
  for (int64_t b = 0; b < s.batch; ++b) {
    const int32_t* seg = segment_ids.empty() ? nullptr : segment_ids.data() + b * T;
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t kv = (b * T * Hkv + h / (Hq / Hkv)) * D;  // Row 0 of this head's keys and values.
      for (int64_t t = 0; t < T; ++t) {
        const int64_t row = ((b * T + t) * Hq + h) * D;
        RefAttendRow(&q[row], &k[kv], &v[kv], Hkv * D, t + 1, D,
                     [&](int64_t u) { return seg == nullptr || seg[u] == seg[t]; }, &out[row]);
      }
    }
  }
  return out;
}

Vec RefAttentionDecode(const AttentionDecodeShape& s, const Vec& q, const Vec& k, const Vec& v) {
  const int64_t Tq = s.q_len, D = s.head_dim, Hq = s.q_heads, Hkv = s.kv_heads;
  Vec out(q.size(), 0.0);
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t kv = (b * s.kv_capacity * Hkv + h / (Hq / Hkv)) * D;  // Cache row 0 of this head.
      for (int64_t i = 0; i < Tq; ++i) {
        const int64_t row = ((b * Tq + i) * Hq + h) * D;
        const int64_t pos = s.kv_len - Tq + i;  // Sees cache rows 0..pos.
        RefAttendRow(&q[row], &k[kv], &v[kv], Hkv * D, pos + 1, D, [](int64_t) { return true; }, &out[row]);
      }
    }
  }
  return out;
}

Vec RefSwiGlu(const Vec& gate, const Vec& up) {
  Vec h(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) h[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
  return h;
}

Vec RefCrossEntropy(const Vec& logits, const std::vector<int32_t>& targets, int64_t vocab) {
  Vec loss(targets.size(), 0.0);
  for (size_t r = 0; r < targets.size(); ++r) {
    if (targets[r] == kIgnoreIndex) continue;
    double mx = logits[r * vocab];
    for (int64_t j = 0; j < vocab; ++j) mx = std::max(mx, logits[r * vocab + j]);
    double sum = 0.0;
    for (int64_t j = 0; j < vocab; ++j) sum += std::exp(logits[r * vocab + j] - mx);
    loss[r] = mx + std::log(sum) - logits[r * vocab + targets[r]];
  }
  return loss;
}

Vec RefDropoutMask(uint64_t seed, uint64_t stream, float p, int64_t n) {
  const PhiloxKey key = {static_cast<uint32_t>(seed & 0xffffffffu), static_cast<uint32_t>(seed >> 32)};
  const double threshold = std::nearbyint(static_cast<double>(p) * 4294967296.0);
  Vec mask(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t block = static_cast<uint64_t>(i) / 4;
    const PhiloxCounter counter = {static_cast<uint32_t>(block & 0xffffffffu), static_cast<uint32_t>(block >> 32),
                                   static_cast<uint32_t>(stream & 0xffffffffu), static_cast<uint32_t>(stream >> 32)};
    const uint32_t word = Philox4x32(counter, key)[static_cast<size_t>(i % 4)];
    mask[static_cast<size_t>(i)] = static_cast<double>(word) < threshold ? 0.0 : static_cast<double>(1.0f / (1.0f - p));
  }
  return mask;
}

Vec RefLora(const LoraShape& s, const Vec& x_d, const Vec& a, const Vec& b, double scale, const Vec& y0) {
  Vec y = y0;
  for (int64_t n = 0; n < s.rows; ++n) {
    std::vector<double> xa(s.rank, 0.0);
    for (int64_t r = 0; r < s.rank; ++r) {
      for (int64_t i = 0; i < s.in; ++i) xa[r] += x_d[n * s.in + i] * a[r * s.in + i];
    }
    for (int64_t o = 0; o < s.out; ++o) {
      double acc = 0.0;
      for (int64_t r = 0; r < s.rank; ++r) acc += xa[r] * b[o * s.rank + r];
      y[n * s.out + o] += scale * acc;
    }
  }
  return y;
}

void RefAdamW(const AdamWConfig& c, Vec& p, const Vec& g, Vec& m, Vec& v) {
  const double b1 = c.beta1, b2 = c.beta2, lr = c.lr;
  const double bc1 = 1.0 - std::pow(b1, static_cast<double>(c.step));
  const double bc2 = 1.0 - std::pow(b2, static_cast<double>(c.step));
  for (size_t i = 0; i < p.size(); ++i) {
    p[i] -= lr * c.weight_decay * p[i];
    m[i] = b1 * m[i] + (1.0 - b1) * g[i];
    v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
    p[i] -= lr * (m[i] / bc1) / (std::sqrt(v[i] / bc2) + c.eps);
  }
}

}  // namespace ftd::testing
