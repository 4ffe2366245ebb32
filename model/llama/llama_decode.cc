// KV-cache decoding for LlamaModel: the new tokens (a prompt's prefill, or one sampled token) go through the same
// layer steps as the forward pass (llama_forward.cc), but at positions after the cached ones: their RoPE rows come
// from a positions array, their keys and values are written straight into the cache rows they occupy, and
// attention reads the whole cache (AttentionDecodeForward). Only the tokens whose logits are asked for (the last, or
// all) reach the final norm and lm_head.
#include <algorithm>
#include <memory>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/rope_tables.h"
#include "model/llama/llama_linear.h"
#include "model/llama/llama_model.h"

namespace ftd {

// Decode's per-call buffers for up to `rows` new tokens, grown (never shrunk) when a call brings more tokens or
// a larger LoRA rank. Separate from LlamaActivations: decoding leaves a training step's buffers alone.
struct LlamaDecodeScratch {
  int64_t rows = 0;
  int64_t lora_rank = 0;       // xa's width
  int64_t logit_rows = 0;      // logits' rows
  DeviceBuffer ids;            // (n) int32 stored in float slots
  DeviceBuffer positions;      // (n) int32 stored in float slots
  DeviceBuffer ones;           // (n) of 1.0: the bias broadcast as a rank-1 product
  DeviceBuffer x;              // (n, C) residual stream: a layer's input, then its output
  DeviceBuffer x_mid;          // (n, C) x + o_proj(att)
  DeviceBuffer h;              // (n, C) a norm's output: q/k/v's or gate/up's input
  DeviceBuffer proj;           // (n, C) o_proj / down_proj output before the residual add
  DeviceBuffer rstd;           // (n) the norms' 1/rms (not needed afterwards)
  DeviceBuffer q;              // (n, Hq, D) after RoPE
  DeviceBuffer att;            // (n, Hq, D) attention output
  DeviceBuffer gate, up, act;  // (n, I)
  DeviceBuffer xa;             // (n, r) LoRA's x @ A^T, for each adapted projection in turn; empty without LoRA
  DeviceBuffer logits;         // (logit_rows, V) the last token's, or every new token's
};

LlamaKvCache::LlamaKvCache() = default;
LlamaKvCache::LlamaKvCache(LlamaKvCache&& other) noexcept = default;
LlamaKvCache& LlamaKvCache::operator=(LlamaKvCache&& other) noexcept = default;
LlamaKvCache::~LlamaKvCache() = default;

namespace {

absl::StatusOr<std::unique_ptr<LlamaDecodeScratch>> PlanDecodeScratch(Backend* backend, const LlamaConfig& c,
                                                                       int64_t rows, int64_t lora_rank,
                                                                       int64_t logit_rows) {
  const int64_t C = c.hidden_size, I = c.intermediate_size, Dq = c.q_dim();
  auto s = std::make_unique<LlamaDecodeScratch>();
  s->rows = rows;
  s->lora_rank = lora_rank;
  s->logit_rows = logit_rows;
  ASSIGN_OR_RETURN(s->ids, DeviceBuffer::Create(backend, rows));
  ASSIGN_OR_RETURN(s->positions, DeviceBuffer::Create(backend, rows));
  ASSIGN_OR_RETURN(s->ones, DeviceBuffer::Create(backend, rows));
  RETURN_IF_ERROR(backend->Fill(s->ones.data(), 1.0f, rows));
  for (DeviceBuffer* b : {&s->x, &s->x_mid, &s->h, &s->proj}) {
    ASSIGN_OR_RETURN(*b, DeviceBuffer::Create(backend, rows * C));
  }
  ASSIGN_OR_RETURN(s->rstd, DeviceBuffer::Create(backend, rows));
  ASSIGN_OR_RETURN(s->q, DeviceBuffer::Create(backend, rows * Dq));
  ASSIGN_OR_RETURN(s->att, DeviceBuffer::Create(backend, rows * Dq));
  for (DeviceBuffer* b : {&s->gate, &s->up, &s->act}) {
    ASSIGN_OR_RETURN(*b, DeviceBuffer::Create(backend, rows * I));
  }
  if (lora_rank > 0) {
    ASSIGN_OR_RETURN(s->xa, DeviceBuffer::Create(backend, rows * lora_rank));
  }
  ASSIGN_OR_RETURN(s->logits, DeviceBuffer::Create(backend, logit_rows * c.vocab_size));
  return s;
}

}  // namespace

absl::StatusOr<LlamaKvCache> LlamaModel::NewKvCache(int64_t max_len) const {
  const LlamaConfig& c = config_;
  if (max_len < 1 || max_len > c.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("KV cache max_len ", max_len, " outside [1, ",
                                                   c.max_position_embeddings, "] (max_position_embeddings)"));
  }
  LlamaKvCache cache;
  cache.model_ = this;
  cache.max_len_ = max_len;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    ASSIGN_OR_RETURN(DeviceBuffer k, DeviceBuffer::Create(backend_, max_len * c.kv_dim()));
    ASSIGN_OR_RETURN(DeviceBuffer v, DeviceBuffer::Create(backend_, max_len * c.kv_dim()));
    cache.k_.push_back(std::move(k));
    cache.v_.push_back(std::move(v));
  }
  const RopeTables tables = ComputeRopeTables(inv_freq_, max_len);
  const int64_t table = max_len * (c.head_dim / 2);
  ASSIGN_OR_RETURN(cache.cos_, DeviceBuffer::Create(backend_, table));
  ASSIGN_OR_RETURN(cache.sin_, DeviceBuffer::Create(backend_, table));
  RETURN_IF_ERROR(backend_->CopyToDevice(cache.cos_.data(), tables.cos.data(), table * 4));
  RETURN_IF_ERROR(backend_->CopyToDevice(cache.sin_.data(), tables.sin.data(), table * 4));
  return cache;
}

absl::StatusOr<std::vector<float>> LlamaModel::Decode(LlamaKvCache* cache, const std::vector<int32_t>& ids,
                                                      LlamaDecodeLogits logits) {
  const LlamaConfig& c = config_;
  if (cache == nullptr || cache->model_ != this) {
    return absl::FailedPreconditionError("decode: the KV cache was not made by this model");
  }
  const int64_t n = static_cast<int64_t>(ids.size()), start = cache->length_, max_len = cache->max_len_;
  if (n == 0) return absl::InvalidArgumentError("decode: no token ids");
  if (start + n > max_len) {
    return absl::OutOfRangeError(absl::StrCat("decode: ", n, " token(s) at position ", start,
                                              " do not fit in the KV cache of max_len ", max_len));
  }
  for (int32_t id : ids) {
    if (id < 0 || id >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("decode: token id ", id, " outside [0, ", c.vocab_size, ")"));
    }
  }
  int64_t lora_rank = 0;
  for (size_t l = 0; has_lora_ && l < lora_.size(); ++l) {
    for (const LlamaLoraModule& m : lora_[l]) lora_rank = std::max(lora_rank, m.rank);
  }
  const int64_t out_rows = logits == LlamaDecodeLogits::kAll ? n : 1;  // The last out_rows tokens' logits.
  std::unique_ptr<LlamaDecodeScratch>& scratch = cache->scratch_;
  if (scratch == nullptr || scratch->rows < n || scratch->lora_rank < lora_rank || scratch->logit_rows < out_rows) {
    const int64_t rows = std::max(n, scratch == nullptr ? int64_t{1} : scratch->rows);
    const int64_t logit_rows = std::max(out_rows, scratch == nullptr ? int64_t{1} : scratch->logit_rows);
    scratch.reset();  // Free the old buffers before making larger ones.
    ASSIGN_OR_RETURN(scratch, PlanDecodeScratch(backend_, c, rows, lora_rank, logit_rows));
  }
  LlamaDecodeScratch& s = *scratch;
  std::vector<int32_t> positions(static_cast<size_t>(n));
  std::iota(positions.begin(), positions.end(), static_cast<int32_t>(start));
  RETURN_IF_ERROR(backend_->CopyToDevice(s.ids.data(), ids.data(), n * 4));
  RETURN_IF_ERROR(backend_->CopyToDevice(s.positions.data(), positions.data(), n * 4));
  const auto* ids_dev = reinterpret_cast<const int32_t*>(s.ids.data());
  const auto* pos_dev = reinterpret_cast<const int32_t*>(s.positions.data());

  const int64_t C = c.hidden_size, V = c.vocab_size, I = c.intermediate_size, D = c.head_dim;
  const int64_t Hq = c.num_attention_heads, Hkv = c.num_key_value_heads, Dq = c.q_dim(), Dkv = c.kv_dim();
  const float eps = static_cast<float>(c.rms_norm_eps);
  const RopeShape rq{1, n, Hq, D, max_len};
  const RopeShape rk{1, n, Hkv, D, max_len};
  const AttentionDecodeShape as{1, n, start + n, max_len, Hq, Hkv, D};
  static const LlamaLoraModule kNoLora;
  const DeviceBuffer kNoBias;
  const float* cos = cache->cos_.data();
  const float* sin = cache->sin_.data();

  RETURN_IF_ERROR(backend_->EmbeddingForward(ids_dev, embed_.data(), s.x.data(), n, V, C));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LlamaLayerWeights& w = layers_[l];
    float* k_new = cache->k_[l].data() + start * Dkv;  // (n, Hkv, D): the new tokens' cache rows
    float* v_new = cache->v_[l].data() + start * Dkv;
    auto linear = [&](LlamaProj p, const float* x, const LlamaLinearWeight& weight, const DeviceBuffer& bias,
                      int64_t in, int64_t out, float* y) {
      const LlamaLoraModule& lora = has_lora_ ? lora_[l][static_cast<int>(p)] : kNoLora;
      return LlamaLinearForward(backend_, x, weight.view(), bias, s.ones.data(), lora, x, s.xa.data(), n, in, out, y);
    };
    RETURN_IF_ERROR(backend_->RmsNormForward(s.x.data(), w.input_norm.data(), eps, s.h.data(), s.rstd.data(), n, C));
    RETURN_IF_ERROR(linear(LlamaProj::kQ, s.h.data(), w.wq, w.bq, C, Dq, s.q.data()));
    RETURN_IF_ERROR(linear(LlamaProj::kK, s.h.data(), w.wk, w.bk, C, Dkv, k_new));
    RETURN_IF_ERROR(linear(LlamaProj::kV, s.h.data(), w.wv, w.bv, C, Dkv, v_new));
    RETURN_IF_ERROR(backend_->RopeForward(rq, s.q.data(), cos, sin, pos_dev, s.q.data()));
    RETURN_IF_ERROR(backend_->RopeForward(rk, k_new, cos, sin, pos_dev, k_new));
    RETURN_IF_ERROR(backend_->AttentionDecodeForward(as, s.q.data(), cache->k_[l].data(), cache->v_[l].data(),
                                                     s.att.data()));
    RETURN_IF_ERROR(linear(LlamaProj::kO, s.att.data(), w.wo, kNoBias, Dq, C, s.proj.data()));
    RETURN_IF_ERROR(backend_->Add(s.x.data(), s.proj.data(), s.x_mid.data(), n * C));
    RETURN_IF_ERROR(
        backend_->RmsNormForward(s.x_mid.data(), w.post_norm.data(), eps, s.h.data(), s.rstd.data(), n, C));
    RETURN_IF_ERROR(linear(LlamaProj::kGate, s.h.data(), w.w_gate, kNoBias, C, I, s.gate.data()));
    RETURN_IF_ERROR(linear(LlamaProj::kUp, s.h.data(), w.w_up, kNoBias, C, I, s.up.data()));
    RETURN_IF_ERROR(backend_->SwiGluForward(s.gate.data(), s.up.data(), s.act.data(), n * I));
    RETURN_IF_ERROR(linear(LlamaProj::kDown, s.act.data(), w.w_down, kNoBias, I, C, s.proj.data()));
    RETURN_IF_ERROR(backend_->Add(s.x_mid.data(), s.proj.data(), s.x.data(), n * C));
  }
  // The final norm and lm_head run only on the rows whose logits are wanted: the last out_rows.
  const float* x_out = s.x.data() + (n - out_rows) * C;
  RETURN_IF_ERROR(
      backend_->RmsNormForward(x_out, final_norm_.data(), eps, s.h.data(), s.rstd.data(), out_rows, C));
  const DeviceBuffer& head = c.tie_word_embeddings ? embed_ : lm_head_;
  RETURN_IF_ERROR(LlamaLinearForward(backend_, s.h.data(), {head.data(), {}, {}}, kNoBias, s.ones.data(), kNoLora,
                                     nullptr, nullptr, out_rows, C, V, s.logits.data()));
  std::vector<float> host(static_cast<size_t>(out_rows * V));
  RETURN_IF_ERROR(backend_->CopyToHost(host.data(), s.logits.data(), out_rows * V * 4));
  cache->length_ = start + n;
  return host;
}

}  // namespace ftd
