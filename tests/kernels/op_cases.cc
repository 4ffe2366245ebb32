// The op harness's cases: every op of kernels.h on several shapes (odd sizes, T=1, GQA groups 1/2/4, packed
// segments, ignored targets, dropout masks), each with its reference and how it calls the Backend.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/bf16_weight.h"
#include "kernels/nf4_weight.h"
#include "tests/kernels/op_harness.h"

namespace ftd::testing {
namespace {

using Ins = std::vector<InputSpec>;
using In = const std::vector<float*>&;

InputSpec Diff(std::string name, int64_t size, bool accumulates = false) {
  return InputSpec{std::move(name), size, true, accumulates};
}
InputSpec Data(std::string name, int64_t size, double lo = -1.0, double hi = 1.0) {
  return InputSpec{std::move(name), size, false, false, lo, hi};
}
const char* T(Transpose t) { return t == Transpose::kYes ? "T" : "N"; }

// ---- matmul (also the strided-batched form) ----
class MatmulCase : public OpCase {
 public:
  MatmulCase(MatmulShape s, float alpha, float beta, GradMode mode) : s_(s), alpha_(alpha), beta_(beta), mode_(mode) {
    op = s.batch > 1 ? "matmul_batched" : "matmul";
    params = absl::StrCat("m=", s.m, ",n=", s.n, ",k=", s.k, ",", T(s.trans_a), T(s.trans_b), ",alpha=", alpha,
                          ",beta=", beta, s.batch > 1 ? absl::StrCat(",batch=", s.batch, ",sa=", s.stride_a,
                                                                     ",sb=", s.stride_b, ",sc=", s.stride_c)
                                                      : "",
                          mode == GradMode::kAccumulate ? ",acc" : "");
    const int64_t last = s.batch - 1;
    const bool acc = mode == GradMode::kAccumulate;
    inputs = {Diff("a", last * s.stride_a + s.m * s.k, acc), Diff("b", last * s.stride_b + s.k * s.n, acc),
              Data("c0", last * s.stride_c + s.m * s.n)};
    output_sizes = {inputs[2].size};
  }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override {
    return {RefMatmul(s_, alpha_, in[0], in[1], beta_, in[2])};
  }
  absl::Status Forward(Backend& be, Arena&, In in, const std::vector<float*>& out) override {
    RETURN_IF_ERROR(be.Copy(out[0], in[2], output_sizes[0]));
    return be.Matmul(s_, alpha_, in[0], in[1], beta_, out[0]);
  }
  absl::Status Backward(Backend& be, Arena&, In in, In douts, In grads) override {
    return be.MatmulBackward(s_, alpha_, in[0], in[1], douts[0], grads[0], grads[1], mode_);
  }

 private:
  MatmulShape s_;
  float alpha_, beta_;
  GradMode mode_;
};

// ---- linear over a frozen NF4 weight (forward, and the input gradient as its backward) ----
// The 4-bit codes are fixed random bytes of the case (no quantiser needed: any codes are a valid weight); the
// per-block absmax is a harness input, so W = code * absmax varies from run to run.
class Nf4MatmulCase : public OpCase {
 public:
  Nf4MatmulCase(int64_t m, int64_t out, int64_t in, float alpha, float beta, GradMode mode)
      : m_(m), out_(out), in_(in), alpha_(alpha), beta_(beta), mode_(mode) {
    op = "nf4_matmul";
    params = absl::StrCat("m=", m, ",out=", out, ",in=", in, ",alpha=", alpha, ",beta=", beta,
                          mode == GradMode::kAccumulate ? ",acc" : "");
    const int64_t blocks = (out * in + kNf4WeightBlockSize - 1) / kNf4WeightBlockSize;
    inputs = {Diff("x", m * in, mode == GradMode::kAccumulate), Data("absmax", blocks, 0.25, 2.0),
              Data("y0", m * out)};
    output_sizes = {m * out};
    std::mt19937 rng(static_cast<uint32_t>(out * 1000 + in));
    packed_.resize(static_cast<size_t>((out * in + 1) / 2));  // (ceil(out * in / 2))
    for (uint8_t& byte : packed_) byte = static_cast<uint8_t>(rng());
  }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override {
    Vec w(static_cast<size_t>(out_ * in_));  // (out, in)
    for (int64_t i = 0; i < out_ * in_; ++i) {
      const uint8_t byte = packed_[static_cast<size_t>(i / 2)];
      const int nibble = i % 2 == 0 ? byte >> 4 : byte & 0x0F;
      w[i] = static_cast<double>(kNf4WeightCode[nibble]) * in[1][i / kNf4WeightBlockSize];
    }
    return {RefMatmul(MatmulShape{m_, out_, in_, Transpose::kNo, Transpose::kYes}, alpha_, in[0], w, beta_, in[2])};
  }
  absl::Status Forward(Backend& be, Arena& arena, In in, const std::vector<float*>& out) override {
    std::vector<int32_t> words((packed_.size() + 3) / 4, 0);  // the bytes, carried by the arena's int upload
    std::memcpy(words.data(), packed_.data(), packed_.size());
    ASSIGN_OR_RETURN(int32_t* packed, arena.UploadInts(words));
    weight_ = Nf4Weight{reinterpret_cast<const uint8_t*>(packed), in[1], out_, in_};
    RETURN_IF_ERROR(be.Copy(out[0], in[2], output_sizes[0]));
    return be.Nf4Matmul(weight_, m_, alpha_, in[0], beta_, out[0]);
  }
  absl::Status Backward(Backend& be, Arena&, In, In douts, In grads) override {
    return be.Nf4MatmulBackward(weight_, m_, alpha_, douts[0], grads[0], mode_);
  }

 private:
  int64_t m_, out_, in_;
  float alpha_, beta_;
  GradMode mode_;
  std::vector<uint8_t> packed_;
  Nf4Weight weight_;
};

// ---- linear over a frozen bf16 weight (forward, and the input gradient as its backward) ----
// The bf16 bits are fixed random values of the case (uniform in [-1, 1], truncated to their upper half: any bits of
// a finite value are a valid weight); the reference multiplies by them widened, in double.
//
// Threshold: kernels.h lets a backend round x (dy for the backward) to bf16, and the CUDA one does. bf16 keeps 8
// significant bits, so rounding to nearest moves a value by up to 2^-8 of itself (2^-9 at the top of a binade);
// for inputs spread over the binade the mean square relative error is ~2^-14 / 12 * E[1/s^2] ~ 2.5e-6 (s the
// significand in [1, 2)). Those errors are independent across the terms of each sum, so the NMSE of y (or dx) is
// about that (simulated in Python for these shapes: median 2e-6, worst of 1000 draws 1.5e-5, the one-term bound
// 2^-16 = 1.5e-5). 1e-4 leaves room for that tail, and still fails any wrong index or term (NMSE >= 1e-2). A short
// sum into few values can cancel and push the ratio past it (1x3x5: 1e-4 in 200 draws), so no shape here sums fewer
// than ~16 terms into fewer than ~16 values, except the one-term 1x1x1 (bounded by 2^-16). The CPU backend rounds
// nothing and stays within fp32's kForwardNmse / kBackwardNmse (op_harness_test holds it to them).
class Bf16MatmulCase : public OpCase {
 public:
  static constexpr double kBf16InputNmse = 1e-4;

  Bf16MatmulCase(int64_t m, int64_t out, int64_t in, float alpha, float beta, GradMode mode)
      : m_(m), out_(out), in_(in), alpha_(alpha), beta_(beta), mode_(mode) {
    op = "bf16_matmul";
    params = absl::StrCat("m=", m, ",out=", out, ",in=", in, ",alpha=", alpha, ",beta=", beta,
                          mode == GradMode::kAccumulate ? ",acc" : "");
    inputs = {Diff("x", m * in, mode == GradMode::kAccumulate), Data("y0", m * out)};
    output_sizes = {m * out};
    forward_threshold = kBf16InputNmse;
    backward_threshold = kBf16InputNmse;
    std::mt19937 rng(static_cast<uint32_t>(out * 1000 + in));
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    bits_.resize(static_cast<size_t>(out * in));  // (out, in)
    for (uint16_t& b : bits_) {
      const float v = dist(rng);
      uint32_t u;
      std::memcpy(&u, &v, sizeof(u));
      b = static_cast<uint16_t>(u >> 16);
    }
  }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override {
    Vec w(bits_.size());  // (out, in)
    for (size_t i = 0; i < bits_.size(); ++i) {
      const uint32_t u = static_cast<uint32_t>(bits_[i]) << 16;
      float v;
      std::memcpy(&v, &u, sizeof(v));
      w[i] = v;
    }
    return {RefMatmul(MatmulShape{m_, out_, in_, Transpose::kNo, Transpose::kYes}, alpha_, in[0], w, beta_, in[1])};
  }
  absl::Status Forward(Backend& be, Arena& arena, In in, const std::vector<float*>& out) override {
    ASSIGN_OR_RETURN(uint16_t* bits, arena.UploadU16(bits_));
    weight_ = Bf16Weight{bits, out_, in_};
    RETURN_IF_ERROR(be.Copy(out[0], in[1], output_sizes[0]));
    return be.Bf16Matmul(weight_, m_, alpha_, in[0], beta_, out[0]);
  }
  absl::Status Backward(Backend& be, Arena&, In, In douts, In grads) override {
    return be.Bf16MatmulBackward(weight_, m_, alpha_, douts[0], grads[0], mode_);
  }

 private:
  int64_t m_, out_, in_;
  float alpha_, beta_;
  GradMode mode_;
  std::vector<uint16_t> bits_;
  Bf16Weight weight_;
};

// ---- embedding ----
class EmbeddingCase : public OpCase {
 public:
  EmbeddingCase(std::vector<int32_t> ids, int64_t vocab, int64_t dim) : ids_(std::move(ids)), vocab_(vocab), dim_(dim) {
    op = "embedding";
    params = absl::StrCat("n=", ids_.size(), ",vocab=", vocab, ",dim=", dim);
    inputs = {Diff("table", vocab * dim, /*accumulates=*/true)};
    output_sizes = {static_cast<int64_t>(ids_.size()) * dim};
  }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override { return {RefEmbedding(ids_, in[0], dim_)}; }
  absl::Status Forward(Backend& be, Arena& arena, In in, const std::vector<float*>& out) override {
    ASSIGN_OR_RETURN(ids_dev_, arena.UploadInts(ids_));
    return be.EmbeddingForward(ids_dev_, in[0], out[0], static_cast<int64_t>(ids_.size()), vocab_, dim_);
  }
  absl::Status Backward(Backend& be, Arena&, In, In douts, In grads) override {
    return be.EmbeddingBackward(ids_dev_, douts[0], grads[0], static_cast<int64_t>(ids_.size()), vocab_, dim_);
  }

 private:
  std::vector<int32_t> ids_;
  int64_t vocab_, dim_;
  int32_t* ids_dev_ = nullptr;
};

// ---- RMSNorm ----
class RmsNormCase : public OpCase {
 public:
  RmsNormCase(int64_t rows, int64_t dim, bool frozen) : rows_(rows), dim_(dim), frozen_(frozen) {
    op = "rmsnorm";
    params = absl::StrCat("rows=", rows, ",dim=", dim, frozen ? ",frozen_w" : "");
    inputs = {Diff("x", rows * dim), frozen ? Data("w", dim, 0.5, 1.5) : Diff("w", dim, /*accumulates=*/true)};
    inputs[1].lo = 0.5;
    inputs[1].hi = 1.5;
    output_sizes = {rows * dim};
  }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override {
    return {RefRmsNorm(in[0], in[1], kEps, rows_, dim_)};
  }
  absl::Status Forward(Backend& be, Arena& arena, In in, const std::vector<float*>& out) override {
    ASSIGN_OR_RETURN(rstd_, arena.Floats(rows_));
    return be.RmsNormForward(in[0], in[1], kEps, out[0], rstd_, rows_, dim_);
  }
  absl::Status Backward(Backend& be, Arena&, In in, In douts, In grads) override {
    return be.RmsNormBackward(in[0], in[1], rstd_, kEps, douts[0], grads[0], frozen_ ? nullptr : grads[1], rows_, dim_);
  }

 private:
  static constexpr float kEps = 1e-5f;
  int64_t rows_, dim_;
  bool frozen_;
  float* rstd_ = nullptr;
};

// ---- RoPE ----
class RopeCase : public OpCase {
 public:
  RopeCase(RopeShape s, std::vector<int32_t> positions) : s_(s), positions_(std::move(positions)) {
    op = "rope";
    params = absl::StrCat("B=", s.batch, ",T=", s.seq, ",H=", s.heads, ",D=", s.head_dim, ",table=", s.table_len,
                          positions_.empty() ? "" : ",positions");
    const int64_t half = s.head_dim / 2;
    inputs = {Diff("x", s.batch * s.seq * s.heads * s.head_dim), Data("cos", s.table_len * half),
              Data("sin", s.table_len * half)};
    output_sizes = {inputs[0].size};
  }
  void Prepare(std::vector<Vec>& in, std::mt19937_64& rng) override {
    std::uniform_real_distribution<double> angle(-3.14159, 3.14159);
    for (size_t i = 0; i < in[1].size(); ++i) {
      const double a = angle(rng);
      in[1][i] = std::cos(a);
      in[2][i] = std::sin(a);
    }
  }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override {
    return {RefRope(s_, in[0], in[1], in[2], positions_)};
  }
  absl::Status Forward(Backend& be, Arena& arena, In in, const std::vector<float*>& out) override {
    pos_dev_ = nullptr;
    if (!positions_.empty()) {
      ASSIGN_OR_RETURN(pos_dev_, arena.UploadInts(positions_));
    }
    return be.RopeForward(s_, in[0], in[1], in[2], pos_dev_, out[0]);
  }
  absl::Status Backward(Backend& be, Arena&, In in, In douts, In grads) override {
    return be.RopeBackward(s_, douts[0], in[1], in[2], pos_dev_, grads[0]);
  }

 private:
  RopeShape s_;
  std::vector<int32_t> positions_;
  int32_t* pos_dev_ = nullptr;
};

// ---- causal GQA attention ----
class AttentionCase : public OpCase {
 public:
  AttentionCase(AttentionShape s, std::vector<int32_t> segments) : s_(s), segments_(std::move(segments)) {
    op = "attention";
    params = absl::StrCat("B=", s.batch, ",T=", s.seq, ",Hq=", s.q_heads, ",Hkv=", s.kv_heads, ",D=", s.head_dim,
                          segments_.empty() ? "" : ",segments");
    const int64_t nq = s.batch * s.seq * s.q_heads * s.head_dim, nkv = s.batch * s.seq * s.kv_heads * s.head_dim;
    inputs = {Diff("q", nq), Diff("k", nkv), Diff("v", nkv)};
    for (InputSpec& i : inputs) i.lo = -2.0, i.hi = 2.0;  // Peaked enough softmaxes to matter.
    output_sizes = {nq};
  }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override {
    return {RefAttention(s_, in[0], in[1], in[2], segments_)};
  }
  absl::Status Forward(Backend& be, Arena& arena, In in, const std::vector<float*>& out) override {
    seg_dev_ = nullptr;
    if (!segments_.empty()) {
      ASSIGN_OR_RETURN(seg_dev_, arena.UploadInts(segments_));
    }
    ASSIGN_OR_RETURN(saved_, arena.Floats(be.AttentionSavedElements(s_)));
    out_ = out[0];
    return be.AttentionForward(s_, in[0], in[1], in[2], seg_dev_, out[0], saved_);
  }
  absl::Status Backward(Backend& be, Arena&, In in, In douts, In grads) override {
    return be.AttentionBackward(s_, in[0], in[1], in[2], seg_dev_, out_, saved_, douts[0], grads[0], grads[1],
                                grads[2]);
  }

 private:
  AttentionShape s_;
  std::vector<int32_t> segments_;
  int32_t* seg_dev_ = nullptr;
  float* saved_ = nullptr;
  float* out_ = nullptr;
};

// ---- attention over a KV cache (forward only) ----
class AttentionDecodeCase : public OpCase {
 public:
  explicit AttentionDecodeCase(AttentionDecodeShape s) : s_(s) {
    op = "attention_decode";
    params = absl::StrCat("B=", s.batch, ",Tq=", s.q_len, ",kv_len=", s.kv_len, ",cap=", s.kv_capacity,
                          ",Hq=", s.q_heads, ",Hkv=", s.kv_heads, ",D=", s.head_dim);
    const int64_t nkv = s.batch * s.kv_capacity * s.kv_heads * s.head_dim;
    inputs = {Data("q", s.batch * s.q_len * s.q_heads * s.head_dim, -2.0, 2.0), Data("k", nkv, -2.0, 2.0),
              Data("v", nkv)};
    output_sizes = {inputs[0].size};
    has_backward = false;
  }
  // Cache rows past kv_len are unfilled: NaN there fails the case if the op reads them.
  void Prepare(std::vector<Vec>& in, std::mt19937_64&) override {
    const int64_t row = s_.kv_heads * s_.head_dim;
    for (int64_t b = 0; b < s_.batch; ++b) {
      for (int64_t i = (b * s_.kv_capacity + s_.kv_len) * row; i < (b + 1) * s_.kv_capacity * row; ++i) {
        in[1][i] = NAN;
        in[2][i] = NAN;
      }
    }
  }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override {
    return {RefAttentionDecode(s_, in[0], in[1], in[2])};
  }
  absl::Status Forward(Backend& be, Arena&, In in, const std::vector<float*>& out) override {
    return be.AttentionDecodeForward(s_, in[0], in[1], in[2], out[0]);
  }

 private:
  AttentionDecodeShape s_;
};

// ---- SwiGLU ----
class SwiGluCase : public OpCase {
 public:
  explicit SwiGluCase(int64_t n) : n_(n) {
    op = "swiglu";
    params = absl::StrCat("n=", n);
    inputs = {Diff("gate", n), Diff("up", n)};
    inputs[0].lo = -6.0, inputs[0].hi = 6.0;  // Both tails of the sigmoid.
    output_sizes = {n};
  }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override { return {RefSwiGlu(in[0], in[1])}; }
  absl::Status Forward(Backend& be, Arena&, In in, const std::vector<float*>& out) override {
    return be.SwiGluForward(in[0], in[1], out[0], n_);
  }
  absl::Status Backward(Backend& be, Arena&, In in, In douts, In grads) override {
    return be.SwiGluBackward(in[0], in[1], douts[0], grads[0], grads[1], n_);
  }

 private:
  int64_t n_;
};

// ---- softmax + cross-entropy ----
class CrossEntropyCase : public OpCase {
 public:
  CrossEntropyCase(std::vector<int32_t> targets, int64_t vocab, double logit_range, bool in_place)
      : targets_(std::move(targets)), vocab_(vocab), in_place_(in_place) {
    op = "cross_entropy";
    const int64_t ignored = std::count(targets_.begin(), targets_.end(), kIgnoreIndex);
    params = absl::StrCat("rows=", targets_.size(), ",vocab=", vocab, ",ignored=", ignored, ",range=", logit_range,
                          in_place ? ",in_place" : "");
    inputs = {Diff("logits", rows() * vocab)};
    inputs[0].lo = -logit_range, inputs[0].hi = logit_range;
    output_sizes = {rows()};
    scalar_dout = true;
  }
  int64_t rows() const { return static_cast<int64_t>(targets_.size()); }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override {
    return {RefCrossEntropy(in[0], targets_, vocab_)};
  }
  absl::Status Forward(Backend& be, Arena& arena, In in, const std::vector<float*>& out) override {
    ASSIGN_OR_RETURN(targets_dev_, arena.UploadInts(targets_));
    ASSIGN_OR_RETURN(lse_, arena.Floats(rows()));
    return be.CrossEntropyForward(in[0], targets_dev_, out[0], lse_, rows(), vocab_);
  }
  absl::Status Backward(Backend& be, Arena&, In in, In, In grads) override {
    const float scale = static_cast<float>(scalar_dout_value);
    if (!in_place_) return be.CrossEntropyBackward(in[0], targets_dev_, lse_, scale, grads[0], rows(), vocab_);
    // dlogits written over the logits themselves: a copy of the logits in the gradient buffer.
    RETURN_IF_ERROR(be.Copy(grads[0], in[0], rows() * vocab_));
    return be.CrossEntropyBackward(grads[0], targets_dev_, lse_, scale, grads[0], rows(), vocab_);
  }

 private:
  std::vector<int32_t> targets_;
  int64_t vocab_;
  bool in_place_;
  int32_t* targets_dev_ = nullptr;
  float* lse_ = nullptr;
};

// ---- LoRA (with an optional dropout keep-mask applied through Mul) ----
class LoraCase : public OpCase {
 public:
  LoraCase(LoraShape s, float scale, double dropout) : s_(s), scale_(scale), dropout_(dropout) {
    op = "lora";
    params = absl::StrCat("rows=", s.rows, ",in=", s.in, ",out=", s.out, ",r=", s.rank, ",scale=", scale,
                          dropout > 0 ? absl::StrCat(",dropout=", dropout) : "");
    inputs = {Diff("x", s.rows * s.in, /*accumulates=*/true), Diff("A", s.rank * s.in, true),
              Diff("B", s.out * s.rank, true), Data("y0", s.rows * s.out), Data("mask", s.rows * s.in)};
    output_sizes = {s.rows * s.out};
  }
  void Prepare(std::vector<Vec>& in, std::mt19937_64& rng) override {
    std::bernoulli_distribution keep(1.0 - dropout_);
    for (double& m : in[4]) m = keep(rng) ? 1.0 / (1.0 - dropout_) : 0.0;
  }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override {
    Vec x_d = in[0];
    for (size_t i = 0; i < x_d.size(); ++i) x_d[i] *= in[4][i];
    return {RefLora(s_, x_d, in[1], in[2], scale_, in[3])};
  }
  absl::Status Forward(Backend& be, Arena& arena, In in, const std::vector<float*>& out) override {
    const int64_t n = s_.rows * s_.in;
    ASSIGN_OR_RETURN(x_d_, arena.Floats(n));
    RETURN_IF_ERROR(be.Mul(in[0], in[4], x_d_, n));
    ASSIGN_OR_RETURN(xa_, arena.Floats(s_.rows * s_.rank));
    RETURN_IF_ERROR(be.Copy(out[0], in[3], output_sizes[0]));
    return be.LoraForward(s_, x_d_, in[1], in[2], scale_, xa_, out[0]);
  }
  absl::Status Backward(Backend& be, Arena&, In in, In douts, In grads) override {
    return be.LoraBackward(s_, x_d_, dropout_ > 0 ? in[4] : nullptr, in[1], in[2], xa_, scale_, douts[0], grads[1],
                           grads[2], grads[0]);
  }

 private:
  LoraShape s_;
  float scale_;
  double dropout_;
  float* x_d_ = nullptr;
  float* xa_ = nullptr;
};

// ---- dropout mask (forward only: it has no input to differentiate) ----
class DropoutMaskCase : public OpCase {
 public:
  DropoutMaskCase(uint64_t seed, uint64_t stream, float p, int64_t n) : seed_(seed), stream_(stream), p_(p), n_(n) {
    op = "dropout_mask";
    params = absl::StrCat("n=", n, ",p=", p, ",seed=0x", absl::Hex(seed), ",stream=0x", absl::Hex(stream));
    output_sizes = {n};
    has_backward = false;
  }
  std::vector<Vec> Reference(const std::vector<Vec>&) const override {
    return {RefDropoutMask(seed_, stream_, p_, n_)};
  }
  absl::Status Forward(Backend& be, Arena&, In, const std::vector<float*>& out) override {
    return be.DropoutMask(seed_, stream_, p_, out[0], n_);
  }

 private:
  uint64_t seed_, stream_;
  float p_;
  int64_t n_;
};

// ---- AdamW step (forward only: it is the update) ----
class AdamWCase : public OpCase {
 public:
  AdamWCase(int64_t n, AdamWConfig config) : n_(n), config_(config) {
    op = "adamw";
    params = absl::StrCat("n=", n, ",lr=", config.lr, ",wd=", config.weight_decay, ",step=", config.step);
    inputs = {Data("p", n), Data("g", n), Data("m", n, -0.1, 0.1), Data("v", n, 0.0, 0.01)};
    output_sizes = {n, n, n};
    has_backward = false;
  }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override {
    Vec p = in[0], m = in[2], v = in[3];
    RefAdamW(config_, p, in[1], m, v);
    for (size_t i = 0; i < p.size(); ++i) p[i] -= in[0][i];
    return {p, m, v};
  }
  // The first output is the update p' - p, not p': an error in a small update would vanish in p's NMSE. Its fp32
  // rounding is ~6e-8 |p| / |update|, hence the large learning rates of these cases (>= 0.02).
  absl::Status Forward(Backend& be, Arena& arena, In in, const std::vector<float*>& out) override {
    RETURN_IF_ERROR(be.Copy(out[0], in[0], n_));
    RETURN_IF_ERROR(be.Copy(out[1], in[2], n_));
    RETURN_IF_ERROR(be.Copy(out[2], in[3], n_));
    RETURN_IF_ERROR(be.AdamWStep(config_, out[0], in[1], out[1], out[2], n_));
    ASSIGN_OR_RETURN(float* neg_p, arena.Floats(n_));
    RETURN_IF_ERROR(be.Copy(neg_p, in[0], n_));
    RETURN_IF_ERROR(be.Scale(neg_p, -1.0f, n_));
    return be.AddInto(out[0], neg_p, n_);
  }

 private:
  int64_t n_;
  AdamWConfig config_;
};

// ---- the grad-norm pieces and the elementwise ops (forward only: their backward is themselves) ----
enum class Ew { kSumSquares, kScale, kAdd, kAddInto, kMul, kCopy, kFill };

class ElementwiseCase : public OpCase {
 public:
  ElementwiseCase(Ew kind, int64_t n) : kind_(kind), n_(n) {
    static const char* kNames[] = {"sum_squares", "scale", "add", "add_into", "mul", "copy", "fill"};
    op = kNames[static_cast<int>(kind)];
    params = absl::StrCat("n=", n);
    inputs = {Data("a", n), Data("b", n), Data("acc", 1)};
    output_sizes = {kind == Ew::kSumSquares ? 1 : n};
    has_backward = false;
  }
  std::vector<Vec> Reference(const std::vector<Vec>& in) const override {
    const Vec &a = in[0], &b = in[1];
    Vec out(a.size());
    double ss = in[2][0];
    for (size_t i = 0; i < a.size(); ++i) {
      switch (kind_) {
        case Ew::kSumSquares: ss += a[i] * a[i]; break;
        case Ew::kScale: out[i] = a[i] * static_cast<double>(kAlpha); break;
        case Ew::kAdd: case Ew::kAddInto: out[i] = a[i] + b[i]; break;
        case Ew::kMul: out[i] = a[i] * b[i]; break;
        case Ew::kCopy: out[i] = a[i]; break;
        case Ew::kFill: out[i] = static_cast<double>(kAlpha); break;
      }
    }
    if (kind_ == Ew::kSumSquares) return {Vec{ss}};
    return {out};
  }
  absl::Status Forward(Backend& be, Arena&, In in, const std::vector<float*>& out) override {
    switch (kind_) {
      case Ew::kSumSquares:
        RETURN_IF_ERROR(be.Copy(out[0], in[2], 1));  // Accumulates onto an existing partial sum.
        return be.SumSquares(in[0], n_, out[0]);
      case Ew::kScale:
        RETURN_IF_ERROR(be.Copy(out[0], in[0], n_));
        return be.Scale(out[0], kAlpha, n_);
      case Ew::kAdd: return be.Add(in[0], in[1], out[0], n_);
      case Ew::kAddInto:
        RETURN_IF_ERROR(be.Copy(out[0], in[0], n_));
        return be.AddInto(out[0], in[1], n_);
      case Ew::kMul: return be.Mul(in[0], in[1], out[0], n_);
      case Ew::kCopy: return be.Copy(out[0], in[0], n_);
      case Ew::kFill: return be.Fill(out[0], kAlpha, n_);
    }
    return absl::InternalError("unknown elementwise op");
  }

 private:
  static constexpr float kAlpha = -0.375f;
  Ew kind_;
  int64_t n_;
};

std::vector<int32_t> Segments(std::initializer_list<std::pair<int32_t, int>> runs) {
  std::vector<int32_t> s;
  for (auto [id, len] : runs) s.insert(s.end(), len, id);
  return s;
}

}  // namespace

std::vector<std::unique_ptr<OpCase>> AllOpCases() {
  std::vector<std::unique_ptr<OpCase>> c;
  const Transpose N = Transpose::kNo, Y = Transpose::kYes;
  for (Transpose ta : {N, Y}) {
    for (Transpose tb : {N, Y}) {
      c.push_back(std::make_unique<MatmulCase>(MatmulShape{7, 5, 3, ta, tb}, 1.5f, 0.5f, GradMode::kAccumulate));
    }
  }
  c.push_back(std::make_unique<MatmulCase>(MatmulShape{33, 17, 65, N, Y}, 1.0f, 0.0f, GradMode::kOverwrite));
  c.push_back(std::make_unique<MatmulCase>(MatmulShape{1, 1, 1, Y, Y}, 1.0f, 0.0f, GradMode::kOverwrite));
  // Batched: dense strides; padded strides; B shared across the batch (stride 0: its gradient is summed).
  c.push_back(
      std::make_unique<MatmulCase>(MatmulShape{4, 6, 5, N, Y, 3, 20, 30, 24}, 1.0f, 0.0f, GradMode::kOverwrite));
  c.push_back(
      std::make_unique<MatmulCase>(MatmulShape{3, 5, 7, Y, N, 2, 25, 40, 17}, 0.5f, 1.0f, GradMode::kAccumulate));
  c.push_back(std::make_unique<MatmulCase>(MatmulShape{5, 4, 6, N, N, 4, 30, 0, 20}, 1.0f, 0.0f, GradMode::kOverwrite));

  // NF4 linear: M = 1, `in` off a multiple of 64 (rows share blocks), odd out * in (a half-used last byte).
  c.push_back(std::make_unique<Nf4MatmulCase>(1, 3, 5, 1.0f, 0.0f, GradMode::kOverwrite));
  c.push_back(std::make_unique<Nf4MatmulCase>(7, 33, 65, 1.5f, 0.5f, GradMode::kAccumulate));
  c.push_back(std::make_unique<Nf4MatmulCase>(1, 96, 128, 1.0f, 0.0f, GradMode::kOverwrite));
  c.push_back(std::make_unique<Nf4MatmulCase>(12, 40, 100, 0.5f, 1.0f, GradMode::kOverwrite));
  // bf16 linear: M = 1, one term, odd sizes, beta and accumulate (shapes long enough for the bf16 threshold: above).
  c.push_back(std::make_unique<Bf16MatmulCase>(1, 1, 1, 1.0f, 0.0f, GradMode::kOverwrite));
  c.push_back(std::make_unique<Bf16MatmulCase>(1, 24, 40, 1.0f, 0.0f, GradMode::kOverwrite));
  c.push_back(std::make_unique<Bf16MatmulCase>(7, 33, 65, 1.5f, 0.5f, GradMode::kAccumulate));
  c.push_back(std::make_unique<Bf16MatmulCase>(12, 40, 100, 0.5f, 1.0f, GradMode::kOverwrite));
  c.push_back(std::make_unique<EmbeddingCase>(std::vector<int32_t>{3, 0, 12, 3, 7, 3, 12, 1, 0}, 13, 5));
  c.push_back(std::make_unique<EmbeddingCase>(std::vector<int32_t>{0}, 1, 70));
  c.push_back(std::make_unique<EmbeddingCase>(std::vector<int32_t>{5, 9, 2, 5}, 10, 130));

  c.push_back(std::make_unique<RmsNormCase>(1, 1, false));
  c.push_back(std::make_unique<RmsNormCase>(7, 33, false));
  c.push_back(std::make_unique<RmsNormCase>(16, 128, true));

  c.push_back(std::make_unique<RopeCase>(RopeShape{2, 5, 3, 8, 5}, std::vector<int32_t>{}));
  c.push_back(std::make_unique<RopeCase>(RopeShape{1, 1, 1, 2, 1}, std::vector<int32_t>{}));
  c.push_back(std::make_unique<RopeCase>(RopeShape{2, 4, 2, 6, 11}, std::vector<int32_t>{0, 1, 2, 3, 7, 8, 0, 10}));
  // Packed rows: positions restart at 0 with each document (rows of 3 + 2 + 4 and 6 + 3 tokens).
  c.push_back(std::make_unique<RopeCase>(
      RopeShape{2, 9, 2, 8, 9}, std::vector<int32_t>{0, 1, 2, 0, 1, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 0, 1, 2}));

  c.push_back(std::make_unique<AttentionCase>(AttentionShape{2, 7, 4, 4, 8}, std::vector<int32_t>{}));
  c.push_back(std::make_unique<AttentionCase>(AttentionShape{1, 9, 4, 2, 6}, std::vector<int32_t>{}));
  c.push_back(std::make_unique<AttentionCase>(AttentionShape{2, 5, 8, 2, 4}, std::vector<int32_t>{}));
  c.push_back(std::make_unique<AttentionCase>(AttentionShape{1, 1, 2, 1, 4}, std::vector<int32_t>{}));
  c.push_back(std::make_unique<AttentionCase>(AttentionShape{2, 13, 4, 2, 8},
                                              Segments({{0, 4}, {1, 6}, {2, 3}, {5, 13}})));
  c.push_back(std::make_unique<AttentionCase>(AttentionShape{1, 64, 2, 1, 16}, Segments({{0, 40}, {1, 24}})));
  // Sample packing over several causal blocks (64 queries each on the CPU): later blocks start at their first
  // document's start (30, then 85 in row 0), a block that starts exactly at a document of one token, and segment
  // ids that come back after another document (equality, not contiguity, decides; the block's first key is then
  // the id's first token).
  c.push_back(std::make_unique<AttentionCase>(
      AttentionShape{2, 150, 4, 2, 8}, Segments({{0, 30}, {1, 50}, {2, 5}, {3, 65}, {0, 100}, {1, 50}})));
  c.push_back(std::make_unique<AttentionCase>(AttentionShape{1, 70, 2, 2, 4},
                                              Segments({{0, 64}, {1, 1}, {2, 1}, {3, 1}, {4, 3}})));
  c.push_back(std::make_unique<AttentionCase>(AttentionShape{1, 80, 2, 1, 8}, Segments({{0, 10}, {1, 60}, {0, 10}})));

  // Decoding: one token after a prefix (GQA), a prefill from an empty cache (= causal attention), a chunk after
  // a prefix, the smallest, and two large enough for the parallel path.
  c.push_back(std::make_unique<AttentionDecodeCase>(AttentionDecodeShape{1, 1, 9, 12, 4, 2, 8}));
  c.push_back(std::make_unique<AttentionDecodeCase>(AttentionDecodeShape{2, 5, 5, 7, 4, 4, 6}));
  c.push_back(std::make_unique<AttentionDecodeCase>(AttentionDecodeShape{2, 3, 11, 16, 8, 2, 4}));
  c.push_back(std::make_unique<AttentionDecodeCase>(AttentionDecodeShape{1, 1, 1, 1, 2, 1, 4}));
  c.push_back(std::make_unique<AttentionDecodeCase>(AttentionDecodeShape{1, 1, 300, 320, 8, 4, 32}));
  c.push_back(std::make_unique<AttentionDecodeCase>(AttentionDecodeShape{1, 40, 64, 64, 4, 2, 16}));
  // The blocked prefill path (Tq >= 8): a ragged second block after a cached prefix, GQA 4, spare capacity.
  c.push_back(std::make_unique<AttentionDecodeCase>(AttentionDecodeShape{2, 70, 100, 104, 8, 2, 8}));

  c.push_back(std::make_unique<SwiGluCase>(1));
  c.push_back(std::make_unique<SwiGluCase>(37));
  c.push_back(std::make_unique<SwiGluCase>(1000));

  c.push_back(std::make_unique<CrossEntropyCase>(std::vector<int32_t>{3, kIgnoreIndex, 0, 10, kIgnoreIndex}, 11, 3.0,
                                                 false));
  c.push_back(std::make_unique<CrossEntropyCase>(std::vector<int32_t>{0}, 1, 1.0, false));
  c.push_back(std::make_unique<CrossEntropyCase>(std::vector<int32_t>{5, 299, 0, 150, kIgnoreIndex, 17, 42, 8}, 300,
                                                 30.0, true));
  c.push_back(std::make_unique<CrossEntropyCase>(std::vector<int32_t>{kIgnoreIndex, kIgnoreIndex}, 7, 2.0, false));

  c.push_back(std::make_unique<LoraCase>(LoraShape{7, 9, 5, 3}, 2.0f, 0.0));
  c.push_back(std::make_unique<LoraCase>(LoraShape{1, 1, 1, 1}, 0.5f, 0.0));
  c.push_back(std::make_unique<LoraCase>(LoraShape{6, 17, 11, 4}, 4.0f, 0.25));
  // Ranks that are multiples of 16 take the CPU backend's AVX-512 skinny kernels: odd row and column counts reach
  // their tails (blocks of 8 / 4 rows and columns), NR = 1..4 every template.
  c.push_back(std::make_unique<LoraCase>(LoraShape{37, 29, 19, 16}, 2.0f, 0.0));
  c.push_back(std::make_unique<LoraCase>(LoraShape{13, 21, 70, 32}, 0.5f, 0.0));
  c.push_back(std::make_unique<LoraCase>(LoraShape{9, 40, 11, 48}, 1.0f, 0.2));
  c.push_back(std::make_unique<LoraCase>(LoraShape{70, 33, 45, 64}, 1.5f, 0.0));
  c.push_back(std::make_unique<LoraCase>(LoraShape{300, 130, 90, 16}, 1.0f, 0.0));  // big enough to run threaded

  // Sizes not a multiple of Philox's 4 words, p = 0 (all kept), and seeds/streams using their high words.
  c.push_back(std::make_unique<DropoutMaskCase>(0, 0, 0.5f, 1));
  c.push_back(std::make_unique<DropoutMaskCase>(42, 3, 0.1f, 1001));
  c.push_back(std::make_unique<DropoutMaskCase>(0x1'00000005ULL, 0xf'00000003ULL, 0.9f, 37));
  c.push_back(std::make_unique<DropoutMaskCase>(7, 1ULL << 40, 0.0f, 10));

  c.push_back(std::make_unique<AdamWCase>(1, AdamWConfig{0.05f, 0.9f, 0.999f, 1e-8f, 0.0f, 1}));
  c.push_back(std::make_unique<AdamWCase>(1001, AdamWConfig{0.02f, 0.9f, 0.95f, 1e-6f, 0.1f, 3}));
  c.push_back(std::make_unique<AdamWCase>(50, AdamWConfig{0.1f, 0.8f, 0.99f, 1e-8f, 0.5f, 100}));

  for (Ew kind : {Ew::kSumSquares, Ew::kScale, Ew::kAdd, Ew::kAddInto, Ew::kMul, Ew::kCopy, Ew::kFill}) {
    c.push_back(std::make_unique<ElementwiseCase>(kind, 1));
    c.push_back(std::make_unique<ElementwiseCase>(kind, 777));
  }
  return c;
}

}  // namespace ftd::testing
