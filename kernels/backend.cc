// Backend's public op methods: the argument checks every backend shares (so a CUDA backend reports a bad
// shape exactly as the CPU one does), and the default Do* methods that report an op as not supported.
#include <chrono>
#include <cmath>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/kernels.h"

namespace ftd {

template <typename Op, typename Detail>
absl::Status Backend::Profiled(absl::string_view op, Op&& run, Detail&& detail) {
  if (op_profile_ == nullptr) return run();
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string key(op);
  if constexpr (!std::is_same_v<std::decay_t<Detail>, std::nullptr_t>) absl::StrAppend(&key, " ", detail());
  OpProfile::Entry& entry = op_profile_->ops[key];
  ++entry.calls;
  entry.seconds += seconds;
  return status;
}
namespace {

using Dims = std::initializer_list<std::pair<const char*, int64_t>>;

// Every named dimension must be >= 1: an empty op is almost always a caller's shape bug.
absl::Status CheckDims(absl::string_view op, Dims dims) {
  for (const auto& [name, value] : dims) {
    if (value < 1) {
      std::string all;
      for (const auto& [n, v] : dims) absl::StrAppend(&all, all.empty() ? "" : ", ", n, "=", v);
      return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " must be >= 1 (shape ", all, ")"));
    }
  }
  return absl::OkStatus();
}

// Every named pointer must be non-null.
absl::Status CheckPtrs(absl::string_view op, std::initializer_list<std::pair<const char*, const void*>> ptrs) {
  for (const auto& [name, p] : ptrs) {
    if (p == nullptr) return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " is null"));
  }
  return absl::OkStatus();
}

absl::Status CheckMatmul(absl::string_view op, const MatmulShape& s) {
  RETURN_IF_ERROR(CheckDims(op, {{"m", s.m}, {"n", s.n}, {"k", s.k}, {"batch", s.batch}}));
  if (s.batch > 1) {
    if ((s.stride_a != 0 && s.stride_a < s.m * s.k) || (s.stride_b != 0 && s.stride_b < s.k * s.n) ||
        s.stride_c < s.m * s.n) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": batch strides overlap (m=", s.m, ", n=", s.n, ", k=", s.k, ", batch=", s.batch, ", stride_a=",
          s.stride_a, ", stride_b=", s.stride_b, ", stride_c=", s.stride_c, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckNf4Weight(absl::string_view op, const Nf4Weight& w, int64_t m) {
  RETURN_IF_ERROR(CheckDims(op, {{"m", m}, {"out", w.out}, {"in", w.in}}));
  return CheckPtrs(op, {{"w.packed", w.packed}, {"w.absmax", w.absmax}});
}

absl::Status CheckBf16Weight(absl::string_view op, const Bf16Weight& w, int64_t m) {
  RETURN_IF_ERROR(CheckDims(op, {{"m", m}, {"out", w.out}, {"in", w.in}}));
  return CheckPtrs(op, {{"w.bits", w.bits}});
}

absl::Status CheckRope(absl::string_view op, const RopeShape& s) {
  RETURN_IF_ERROR(CheckDims(op, {{"B", s.batch}, {"T", s.seq}, {"H", s.heads}, {"D", s.head_dim},
                                 {"table_len", s.table_len}}));
  if (s.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": head_dim D=", s.head_dim, " must be even"));
  }
  return absl::OkStatus();
}

// Grouped-query attention: each kv head serves q_heads / kv_heads query heads.
absl::Status CheckGqa(absl::string_view op, int64_t q_heads, int64_t kv_heads) {
  if (q_heads % kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": q_heads Hq=", q_heads, " is not a multiple of kv_heads Hkv=", kv_heads));
  }
  return absl::OkStatus();
}

absl::Status CheckAttention(absl::string_view op, const AttentionShape& s) {
  RETURN_IF_ERROR(CheckDims(op, {{"B", s.batch}, {"T", s.seq}, {"Hq", s.q_heads}, {"Hkv", s.kv_heads},
                                 {"D", s.head_dim}}));
  return CheckGqa(op, s.q_heads, s.kv_heads);
}

absl::Status CheckAttentionDecode(absl::string_view op, const AttentionDecodeShape& s) {
  RETURN_IF_ERROR(CheckDims(op, {{"B", s.batch}, {"Tq", s.q_len}, {"kv_len", s.kv_len},
                                 {"kv_capacity", s.kv_capacity}, {"Hq", s.q_heads}, {"Hkv", s.kv_heads},
                                 {"D", s.head_dim}}));
  if (s.q_len > s.kv_len || s.kv_len > s.kv_capacity) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": need Tq <= kv_len <= kv_capacity (Tq=", s.q_len,
                                                   ", kv_len=", s.kv_len, ", kv_capacity=", s.kv_capacity, ")"));
  }
  return CheckGqa(op, s.q_heads, s.kv_heads);
}

absl::Status CheckLora(absl::string_view op, const LoraShape& s) {
  return CheckDims(op, {{"rows", s.rows}, {"in", s.in}, {"out", s.out}, {"rank", s.rank}});
}

}  // namespace

absl::Status Backend::NotSupported(absl::string_view op) const {
  return absl::UnimplementedError(absl::StrCat(op, " not supported by ", name()));
}

absl::StatusOr<DeviceMemoryStats> Backend::MemoryStats() const { return NotSupported("memory statistics"); }

absl::StatusOr<NominalPeakFlops> Backend::PeakFlops() const { return NotSupported("nominal peak FLOP/s"); }

int64_t Backend::AttentionSavedElements(const AttentionShape& s) const {
  return s.batch * s.q_heads * s.seq * s.seq;
}

absl::Status Backend::Matmul(const MatmulShape& s, float alpha, const float* a, const float* b, float beta,
                             float* c) {
  RETURN_IF_ERROR(CheckMatmul("matmul", s));
  RETURN_IF_ERROR(CheckPtrs("matmul", {{"a", a}, {"b", b}, {"c", c}}));
  return Profiled("matmul", [&] {
    return DoMatmul(s, alpha, a, b, beta, c);
  }, [&] { return absl::StrCat(s.m, "x", s.n, "x", s.k); });
}

absl::Status Backend::MatmulBackward(const MatmulShape& s, float alpha, const float* a, const float* b,
                                     const float* dc, float* da, float* db, GradMode mode) {
  RETURN_IF_ERROR(CheckMatmul("matmul_backward", s));
  RETURN_IF_ERROR(CheckPtrs("matmul_backward", {{"a", a}, {"b", b}, {"dc", dc}}));
  if (da == nullptr && db == nullptr) return absl::OkStatus();
  return Profiled("matmul_backward", [&] {
    return DoMatmulBackward(s, alpha, a, b, dc, da, db, mode);
  }, [&] { return absl::StrCat(s.m, "x", s.n, "x", s.k); });
}

absl::Status Backend::Nf4Matmul(const Nf4Weight& w, int64_t m, float alpha, const float* x, float beta, float* y) {
  RETURN_IF_ERROR(CheckNf4Weight("nf4_matmul", w, m));
  RETURN_IF_ERROR(CheckPtrs("nf4_matmul", {{"x", x}, {"y", y}}));
  return Profiled("nf4_matmul", [&] {
    return DoNf4Matmul(w, m, alpha, x, beta, y);
  }, [&] { return absl::StrCat(m, "x", w.out, "x", w.in); });
}

absl::Status Backend::Nf4MatmulBackward(const Nf4Weight& w, int64_t m, float alpha, const float* dy, float* dx,
                                        GradMode mode) {
  RETURN_IF_ERROR(CheckNf4Weight("nf4_matmul_backward", w, m));
  RETURN_IF_ERROR(CheckPtrs("nf4_matmul_backward", {{"dy", dy}, {"dx", dx}}));
  return Profiled("nf4_matmul_backward", [&] {
    return DoNf4MatmulBackward(w, m, alpha, dy, dx, mode);
  }, [&] { return absl::StrCat(m, "x", w.out, "x", w.in); });
}

absl::Status Backend::Bf16Matmul(const Bf16Weight& w, int64_t m, float alpha, const float* x, float beta,
                                 float* y) {
  RETURN_IF_ERROR(CheckBf16Weight("bf16_matmul", w, m));
  RETURN_IF_ERROR(CheckPtrs("bf16_matmul", {{"x", x}, {"y", y}}));
  return Profiled("bf16_matmul", [&] {
    return DoBf16Matmul(w, m, alpha, x, beta, y);
  }, [&] { return absl::StrCat(m, "x", w.out, "x", w.in); });
}

absl::Status Backend::Bf16MatmulBackward(const Bf16Weight& w, int64_t m, float alpha, const float* dy, float* dx,
                                         GradMode mode) {
  RETURN_IF_ERROR(CheckBf16Weight("bf16_matmul_backward", w, m));
  RETURN_IF_ERROR(CheckPtrs("bf16_matmul_backward", {{"dy", dy}, {"dx", dx}}));
  return Profiled("bf16_matmul_backward", [&] {
    return DoBf16MatmulBackward(w, m, alpha, dy, dx, mode);
  }, [&] { return absl::StrCat(m, "x", w.out, "x", w.in); });
}

absl::Status Backend::EmbeddingForward(const int32_t* ids, const float* table, float* out, int64_t n,
                                       int64_t vocab, int64_t dim) {
  RETURN_IF_ERROR(CheckDims("embedding", {{"n", n}, {"vocab", vocab}, {"dim", dim}}));
  RETURN_IF_ERROR(CheckPtrs("embedding", {{"ids", ids}, {"table", table}, {"out", out}}));
  return Profiled("embedding", [&] { return DoEmbeddingForward(ids, table, out, n, vocab, dim); });
}

absl::Status Backend::EmbeddingBackward(const int32_t* ids, const float* dout, float* dtable, int64_t n,
                                        int64_t vocab, int64_t dim) {
  RETURN_IF_ERROR(CheckDims("embedding_backward", {{"n", n}, {"vocab", vocab}, {"dim", dim}}));
  RETURN_IF_ERROR(CheckPtrs("embedding_backward", {{"ids", ids}, {"dout", dout}, {"dtable", dtable}}));
  return Profiled("embedding_backward", [&] { return DoEmbeddingBackward(ids, dout, dtable, n, vocab, dim); });
}

absl::Status Backend::RmsNormForward(const float* x, const float* weight, float eps, float* y, float* rstd,
                                     int64_t rows, int64_t dim) {
  RETURN_IF_ERROR(CheckDims("rmsnorm", {{"rows", rows}, {"dim", dim}}));
  RETURN_IF_ERROR(CheckPtrs("rmsnorm", {{"x", x}, {"weight", weight}, {"y", y}, {"rstd", rstd}}));
  if (!(eps >= 0.0f)) return absl::InvalidArgumentError(absl::StrCat("rmsnorm: eps=", eps, " must be >= 0"));
  return Profiled("rmsnorm", [&] { return DoRmsNormForward(x, weight, eps, y, rstd, rows, dim); });
}

absl::Status Backend::RmsNormBackward(const float* x, const float* weight, const float* rstd, float eps,
                                      const float* dy, float* dx, float* dweight, int64_t rows, int64_t dim) {
  RETURN_IF_ERROR(CheckDims("rmsnorm_backward", {{"rows", rows}, {"dim", dim}}));
  RETURN_IF_ERROR(CheckPtrs("rmsnorm_backward",
                            {{"x", x}, {"weight", weight}, {"rstd", rstd}, {"dy", dy}, {"dx", dx}}));
  return Profiled("rmsnorm_backward", [&] {
    return DoRmsNormBackward(x, weight, rstd, eps, dy, dx, dweight, rows, dim);
  });
}

absl::Status Backend::RopeForward(const RopeShape& s, const float* x, const float* cos, const float* sin,
                                  const int32_t* positions, float* out) {
  RETURN_IF_ERROR(CheckRope("rope", s));
  RETURN_IF_ERROR(CheckPtrs("rope", {{"x", x}, {"cos", cos}, {"sin", sin}, {"out", out}}));
  if (positions == nullptr && s.table_len < s.seq) {
    return absl::InvalidArgumentError(
        absl::StrCat("rope: table_len=", s.table_len, " < T=", s.seq, " and no positions given"));
  }
  return Profiled("rope", [&] { return DoRopeForward(s, x, cos, sin, positions, out); });
}

absl::Status Backend::RopeBackward(const RopeShape& s, const float* dout, const float* cos, const float* sin,
                                   const int32_t* positions, float* dx) {
  RETURN_IF_ERROR(CheckRope("rope_backward", s));
  RETURN_IF_ERROR(CheckPtrs("rope_backward", {{"dout", dout}, {"cos", cos}, {"sin", sin}, {"dx", dx}}));
  if (positions == nullptr && s.table_len < s.seq) {
    return absl::InvalidArgumentError(
        absl::StrCat("rope_backward: table_len=", s.table_len, " < T=", s.seq, " and no positions given"));
  }
  return Profiled("rope_backward", [&] { return DoRopeBackward(s, dout, cos, sin, positions, dx); });
}

absl::Status Backend::AttentionForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                                       const int32_t* segment_ids, float* out, float* saved) {
  RETURN_IF_ERROR(CheckAttention("attention", s));
  RETURN_IF_ERROR(CheckPtrs("attention", {{"q", q}, {"k", k}, {"v", v}, {"out", out}, {"saved", saved}}));
  return Profiled("attention", [&] { return DoAttentionForward(s, q, k, v, segment_ids, out, saved); });
}

absl::Status Backend::AttentionBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                                        const int32_t* segment_ids, const float* out, const float* saved,
                                        const float* dout, float* dq, float* dk, float* dv) {
  RETURN_IF_ERROR(CheckAttention("attention_backward", s));
  RETURN_IF_ERROR(CheckPtrs("attention_backward", {{"q", q}, {"k", k}, {"v", v}, {"out", out},
                                                   {"saved", saved}, {"dout", dout}, {"dq", dq}, {"dk", dk},
                                                   {"dv", dv}}));
  return Profiled("attention_backward", [&] {
    return DoAttentionBackward(s, q, k, v, segment_ids, out, saved, dout, dq, dk, dv);
  });
}

absl::Status Backend::AttentionDecodeForward(const AttentionDecodeShape& s, const float* q, const float* k,
                                             const float* v, float* out) {
  RETURN_IF_ERROR(CheckAttentionDecode("attention_decode", s));
  RETURN_IF_ERROR(CheckPtrs("attention_decode", {{"q", q}, {"k", k}, {"v", v}, {"out", out}}));
  return Profiled("attention_decode", [&] { return DoAttentionDecodeForward(s, q, k, v, out); });
}

absl::Status Backend::SwiGluForward(const float* gate, const float* up, float* h, int64_t n) {
  RETURN_IF_ERROR(CheckDims("swiglu", {{"n", n}}));
  RETURN_IF_ERROR(CheckPtrs("swiglu", {{"gate", gate}, {"up", up}, {"h", h}}));
  return Profiled("swiglu", [&] { return DoSwiGluForward(gate, up, h, n); });
}

absl::Status Backend::SwiGluBackward(const float* gate, const float* up, const float* dh, float* dgate,
                                     float* dup, int64_t n) {
  RETURN_IF_ERROR(CheckDims("swiglu_backward", {{"n", n}}));
  RETURN_IF_ERROR(CheckPtrs("swiglu_backward",
                            {{"gate", gate}, {"up", up}, {"dh", dh}, {"dgate", dgate}, {"dup", dup}}));
  return Profiled("swiglu_backward", [&] { return DoSwiGluBackward(gate, up, dh, dgate, dup, n); });
}

absl::Status Backend::CrossEntropyForward(const float* logits, const int32_t* targets, float* losses, float* lse,
                                          int64_t rows, int64_t vocab) {
  RETURN_IF_ERROR(CheckDims("cross_entropy", {{"rows", rows}, {"vocab", vocab}}));
  RETURN_IF_ERROR(CheckPtrs("cross_entropy",
                            {{"logits", logits}, {"targets", targets}, {"losses", losses}, {"lse", lse}}));
  return Profiled("cross_entropy", [&] { return DoCrossEntropyForward(logits, targets, losses, lse, rows, vocab); });
}

absl::Status Backend::CrossEntropyBackward(const float* logits, const int32_t* targets, const float* lse,
                                           float grad_scale, float* dlogits, int64_t rows, int64_t vocab) {
  RETURN_IF_ERROR(CheckDims("cross_entropy_backward", {{"rows", rows}, {"vocab", vocab}}));
  RETURN_IF_ERROR(CheckPtrs("cross_entropy_backward",
                            {{"logits", logits}, {"targets", targets}, {"lse", lse}, {"dlogits", dlogits}}));
  return Profiled("cross_entropy_backward", [&] {
    return DoCrossEntropyBackward(logits, targets, lse, grad_scale, dlogits, rows, vocab);
  });
}

absl::Status Backend::LoraForward(const LoraShape& s, const float* x_d, const float* a, const float* b,
                                  float scale, float* xa, float* y) {
  RETURN_IF_ERROR(CheckLora("lora", s));
  RETURN_IF_ERROR(CheckPtrs("lora", {{"x_d", x_d}, {"a", a}, {"b", b}, {"xa", xa}, {"y", y}}));
  return Profiled("lora", [&] {
    return DoLoraForward(s, x_d, a, b, scale, xa, y);
  }, [&] { return absl::StrCat(s.rows, "x", s.in, "x", s.out, " r", s.rank); });
}

absl::Status Backend::LoraBackward(const LoraShape& s, const float* x_d, const float* keep_mask, const float* a,
                                   const float* b, const float* xa, float scale, const float* dy, float* da,
                                   float* db, float* dx) {
  RETURN_IF_ERROR(CheckLora("lora_backward", s));
  RETURN_IF_ERROR(CheckPtrs("lora_backward", {{"x_d", x_d}, {"a", a}, {"b", b}, {"xa", xa}, {"dy", dy},
                                              {"da", da}, {"db", db}}));
  return Profiled("lora_backward", [&] {
    return DoLoraBackward(s, x_d, keep_mask, a, b, xa, scale, dy, da, db, dx);
  }, [&] { return absl::StrCat(s.rows, "x", s.in, "x", s.out, " r", s.rank); });
}

absl::Status Backend::DropoutMask(uint64_t seed, uint64_t stream, float p, float* mask, int64_t n) {
  RETURN_IF_ERROR(CheckDims("dropout_mask", {{"n", n}}));
  RETURN_IF_ERROR(CheckPtrs("dropout_mask", {{"mask", mask}}));
  if (!(p >= 0.0f && p < 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("dropout_mask: p=", p, " must be in [0, 1)"));
  }
  // p * 2^32 is exact in double; p < 1 keeps the rounded threshold below 2^32.
  const auto threshold = static_cast<uint32_t>(std::llround(static_cast<double>(p) * 4294967296.0));
  return Profiled("dropout_mask", [&] { return DoDropoutMask(seed, stream, threshold, 1.0f / (1.0f - p), mask, n); });
}

absl::Status Backend::AdamWStep(const AdamWConfig& c, float* param, const float* grad, float* m, float* v,
                                int64_t n) {
  RETURN_IF_ERROR(CheckDims("adamw", {{"n", n}, {"step", c.step}}));
  RETURN_IF_ERROR(CheckPtrs("adamw", {{"param", param}, {"grad", grad}, {"m", m}, {"v", v}}));
  if (!(c.beta1 >= 0.0f && c.beta1 < 1.0f && c.beta2 >= 0.0f && c.beta2 < 1.0f && c.eps > 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("adamw: betas must be in [0, 1) and eps > 0 (beta1=", c.beta1,
                                                   ", beta2=", c.beta2, ", eps=", c.eps, ")"));
  }
  return Profiled("adamw", [&] { return DoAdamWStep(c, param, grad, m, v, n); });
}

absl::Status Backend::SumSquares(const float* x, int64_t n, float* sum_sq) {
  RETURN_IF_ERROR(CheckDims("sum_squares", {{"n", n}}));
  RETURN_IF_ERROR(CheckPtrs("sum_squares", {{"x", x}, {"sum_sq", sum_sq}}));
  return Profiled("sum_squares", [&] { return DoSumSquares(x, n, sum_sq); });
}

absl::Status Backend::Add(const float* a, const float* b, float* out, int64_t n) {
  RETURN_IF_ERROR(CheckDims("add", {{"n", n}}));
  RETURN_IF_ERROR(CheckPtrs("add", {{"a", a}, {"b", b}, {"out", out}}));
  return Profiled("add", [&] { return DoAdd(a, b, out, n); });
}

absl::Status Backend::AddInto(float* dst, const float* src, int64_t n) {
  RETURN_IF_ERROR(CheckDims("add_into", {{"n", n}}));
  RETURN_IF_ERROR(CheckPtrs("add_into", {{"dst", dst}, {"src", src}}));
  return Profiled("add_into", [&] { return DoAddInto(dst, src, n); });
}

absl::Status Backend::Mul(const float* a, const float* b, float* out, int64_t n) {
  RETURN_IF_ERROR(CheckDims("mul", {{"n", n}}));
  RETURN_IF_ERROR(CheckPtrs("mul", {{"a", a}, {"b", b}, {"out", out}}));
  return Profiled("mul", [&] { return DoMul(a, b, out, n); });
}

absl::Status Backend::Scale(float* x, float alpha, int64_t n) {
  RETURN_IF_ERROR(CheckDims("scale", {{"n", n}}));
  RETURN_IF_ERROR(CheckPtrs("scale", {{"x", x}}));
  return Profiled("scale", [&] { return DoScale(x, alpha, n); });
}

absl::Status Backend::Copy(float* dst, const float* src, int64_t n) {
  RETURN_IF_ERROR(CheckDims("copy", {{"n", n}}));
  RETURN_IF_ERROR(CheckPtrs("copy", {{"dst", dst}, {"src", src}}));
  return Profiled("copy", [&] { return DoCopy(dst, src, n); });
}

absl::Status Backend::Fill(float* x, float value, int64_t n) {
  RETURN_IF_ERROR(CheckDims("fill", {{"n", n}}));
  RETURN_IF_ERROR(CheckPtrs("fill", {{"x", x}}));
  return Profiled("fill", [&] { return DoFill(x, value, n); });
}

// ---- defaults: not supported ----
absl::Status Backend::DoMatmul(const MatmulShape&, float, const float*, const float*, float, float*) {
  return NotSupported("matmul");
}
absl::Status Backend::DoMatmulBackward(const MatmulShape&, float, const float*, const float*, const float*,
                                       float*, float*, GradMode) {
  return NotSupported("matmul_backward");
}
absl::Status Backend::DoNf4Matmul(const Nf4Weight&, int64_t, float, const float*, float, float*) {
  return NotSupported("nf4_matmul");
}
absl::Status Backend::DoBf16Matmul(const Bf16Weight&, int64_t, float, const float*, float, float*) {
  return NotSupported("bf16_matmul");
}
absl::Status Backend::DoBf16MatmulBackward(const Bf16Weight&, int64_t, float, const float*, float*, GradMode) {
  return NotSupported("bf16_matmul_backward");
}
absl::Status Backend::DoNf4MatmulBackward(const Nf4Weight&, int64_t, float, const float*, float*, GradMode) {
  return NotSupported("nf4_matmul_backward");
}
absl::Status Backend::DoEmbeddingForward(const int32_t*, const float*, float*, int64_t, int64_t, int64_t) {
  return NotSupported("embedding");
}
absl::Status Backend::DoEmbeddingBackward(const int32_t*, const float*, float*, int64_t, int64_t, int64_t) {
  return NotSupported("embedding_backward");
}
absl::Status Backend::DoRmsNormForward(const float*, const float*, float, float*, float*, int64_t, int64_t) {
  return NotSupported("rmsnorm");
}
absl::Status Backend::DoRmsNormBackward(const float*, const float*, const float*, float, const float*, float*,
                                        float*, int64_t, int64_t) {
  return NotSupported("rmsnorm_backward");
}
absl::Status Backend::DoRopeForward(const RopeShape&, const float*, const float*, const float*, const int32_t*,
                                    float*) {
  return NotSupported("rope");
}
absl::Status Backend::DoRopeBackward(const RopeShape&, const float*, const float*, const float*, const int32_t*,
                                     float*) {
  return NotSupported("rope_backward");
}
absl::Status Backend::DoAttentionForward(const AttentionShape&, const float*, const float*, const float*,
                                         const int32_t*, float*, float*) {
  return NotSupported("attention");
}
absl::Status Backend::DoAttentionBackward(const AttentionShape&, const float*, const float*, const float*,
                                          const int32_t*, const float*, const float*, const float*, float*,
                                          float*, float*) {
  return NotSupported("attention_backward");
}
absl::Status Backend::DoAttentionDecodeForward(const AttentionDecodeShape&, const float*, const float*,
                                               const float*, float*) {
  return NotSupported("attention_decode");
}
absl::Status Backend::DoSwiGluForward(const float*, const float*, float*, int64_t) {
  return NotSupported("swiglu");
}
absl::Status Backend::DoSwiGluBackward(const float*, const float*, const float*, float*, float*, int64_t) {
  return NotSupported("swiglu_backward");
}
absl::Status Backend::DoCrossEntropyForward(const float*, const int32_t*, float*, float*, int64_t, int64_t) {
  return NotSupported("cross_entropy");
}
absl::Status Backend::DoCrossEntropyBackward(const float*, const int32_t*, const float*, float, float*, int64_t,
                                             int64_t) {
  return NotSupported("cross_entropy_backward");
}
absl::Status Backend::DoLoraForward(const LoraShape&, const float*, const float*, const float*, float, float*,
                                    float*) {
  return NotSupported("lora");
}
absl::Status Backend::DoLoraBackward(const LoraShape&, const float*, const float*, const float*, const float*,
                                     const float*, float, const float*, float*, float*, float*) {
  return NotSupported("lora_backward");
}
absl::Status Backend::DoDropoutMask(uint64_t, uint64_t, uint32_t, float, float*, int64_t) {
  return NotSupported("dropout_mask");
}
absl::Status Backend::DoAdamWStep(const AdamWConfig&, float*, const float*, float*, float*, int64_t) {
  return NotSupported("adamw");
}
absl::Status Backend::DoSumSquares(const float*, int64_t, float*) { return NotSupported("sum_squares"); }
absl::Status Backend::DoAdd(const float*, const float*, float*, int64_t) { return NotSupported("add"); }
absl::Status Backend::DoAddInto(float*, const float*, int64_t) { return NotSupported("add_into"); }
absl::Status Backend::DoMul(const float*, const float*, float*, int64_t) { return NotSupported("mul"); }
absl::Status Backend::DoScale(float*, float, int64_t) { return NotSupported("scale"); }
absl::Status Backend::DoCopy(float*, const float*, int64_t) { return NotSupported("copy"); }
absl::Status Backend::DoFill(float*, float, int64_t) { return NotSupported("fill"); }

}  // namespace ftd
