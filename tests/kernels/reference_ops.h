// Plain-loop double-precision references for the op harness, written from the math (HF modeling_llama, PEFT,
// torch.optim.AdamW) and independently of kernels/cpu, so a shared bug cannot hide in both.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernels.h"

namespace ftd::testing {

using Vec = std::vector<double>;

// C = alpha * op(A) @ op(B) + beta * C0, batched as MatmulShape says (C0 and the result span the C layout).
Vec RefMatmul(const MatmulShape& s, double alpha, const Vec& a, const Vec& b, double beta, const Vec& c0);
Vec RefEmbedding(const std::vector<int32_t>& ids, const Vec& table, int64_t dim);       // (n, dim)
Vec RefRmsNorm(const Vec& x, const Vec& w, double eps, int64_t rows, int64_t dim);       // (rows, dim)
Vec RefRope(const RopeShape& s, const Vec& x, const Vec& cos, const Vec& sin,
            const std::vector<int32_t>& positions);                                      // (B, T, H, D)
Vec RefAttention(const AttentionShape& s, const Vec& q, const Vec& k, const Vec& v,
                 const std::vector<int32_t>& segment_ids);                                 // (B, T, Hq, D)
// q (B, Tq, Hq, D) at positions kv_len - Tq.., k and v (B, kv_capacity, Hkv, D) -> (B, Tq, Hq, D).
Vec RefAttentionDecode(const AttentionDecodeShape& s, const Vec& q, const Vec& k, const Vec& v);
Vec RefSwiGlu(const Vec& gate, const Vec& up);                                             // (n)
Vec RefCrossEntropy(const Vec& logits, const std::vector<int32_t>& targets, int64_t vocab);  // (rows)
// y0 + scale * (x_d @ A^T) @ B^T
Vec RefLora(const LoraShape& s, const Vec& x_d, const Vec& a, const Vec& b, double scale, const Vec& y0);
// nn.Dropout's keep mask (n) as kernels.h specifies it: element i reads word i % 4 of Philox block i / 4 of
// `stream` under `seed` (kernels/philox.h, pinned by Random123's known answers) and is dropped below p * 2^32.
Vec RefDropoutMask(uint64_t seed, uint64_t stream, float p, int64_t n);
// One torch.optim.AdamW step: updates p, m, v.
void RefAdamW(const AdamWConfig& c, Vec& p, const Vec& g, Vec& m, Vec& v);

}  // namespace ftd::testing
