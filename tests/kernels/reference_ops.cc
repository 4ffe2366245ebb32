// The double-precision reference ops of the op harness: the simplest loops that state each op's math.
#include "tests/kernels/reference_ops.h"

#include <algorithm>
#include <cmath>

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

Vec RefAttention(const AttentionShape& s, const Vec& q, const Vec& k, const Vec& v,
                 const std::vector<int32_t>& segment_ids) {
  const int64_t T = s.seq, D = s.head_dim, Hq = s.q_heads, Hkv = s.kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  Vec out(q.size(), 0.0);
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t hk = h / (Hq / Hkv);
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> score(T, -INFINITY);
        double mx = -INFINITY;
        for (int64_t u = 0; u <= t; ++u) {
          if (!segment_ids.empty() && segment_ids[b * T + u] != segment_ids[b * T + t]) continue;
          double dot = 0.0;
          for (int64_t d = 0; d < D; ++d) {
            dot += q[((b * T + t) * Hq + h) * D + d] * k[((b * T + u) * Hkv + hk) * D + d];
          }
          score[u] = dot * scale;
          mx = std::max(mx, score[u]);
        }
        double sum = 0.0;
        for (int64_t u = 0; u <= t; ++u) sum += std::isinf(score[u]) ? 0.0 : std::exp(score[u] - mx);
        for (int64_t u = 0; u <= t; ++u) {
          if (std::isinf(score[u])) continue;
          const double p = std::exp(score[u] - mx) / sum;
          for (int64_t d = 0; d < D; ++d) {
            out[((b * T + t) * Hq + h) * D + d] += p * v[((b * T + u) * Hkv + hk) * D + d];
          }
        }
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
