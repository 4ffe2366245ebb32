// LlamaModel's forward pass: embedding, then per layer RMSNorm -> q/k/v (+bias) -> RoPE -> causal GQA
// attention (per document, at per-token positions, when rows are packed) -> o_proj -> residual -> RMSNorm ->
// SwiGLU MLP -> residual, then the final norm and lm_head, each step one op of the backend, as HF's
// modeling_llama.py / modeling_qwen2.py compute it in fp32. Every projection may carry a LoRA branch. The
// activations the backward needs are kept in LlamaActivations.
#include <algorithm>
#include <array>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/rope_tables.h"
#include "model/llama/llama_activations.h"
#include "model/llama/llama_linear.h"
#include "model/llama/llama_model.h"

namespace ftd {
namespace {

absl::StatusOr<DeviceBuffer> Buffer(Backend* backend, int64_t elements) {
  return DeviceBuffer::Create(backend, elements);
}

}  // namespace

absl::StatusOr<std::unique_ptr<LlamaActivations>> PlanLlamaActivations(
    Backend* backend, const LlamaConfig& c, const std::vector<float>& inv_freq,
    const std::vector<std::array<LlamaLoraModule, kNumLlamaProjs>>& lora, int64_t batch, int64_t seq,
    bool recompute) {
  const int64_t N = batch * seq, C = c.hidden_size, V = c.vocab_size, I = c.intermediate_size;
  const int64_t Dq = c.q_dim(), Dkv = c.kv_dim(), D = c.head_dim;
  auto a = std::make_unique<LlamaActivations>();
  a->capacity_batch = a->batch = batch;
  a->capacity_seq = a->seq = seq;
  a->with_lora = !lora.empty();
  ASSIGN_OR_RETURN(a->ids, Buffer(backend, N));
  ASSIGN_OR_RETURN(a->targets, Buffer(backend, N));
  ASSIGN_OR_RETURN(a->positions, Buffer(backend, N));
  ASSIGN_OR_RETURN(a->segments, Buffer(backend, N));
  ASSIGN_OR_RETURN(a->ones, Buffer(backend, N));
  RETURN_IF_ERROR(backend->Fill(a->ones.data(), 1.0f, N));
  const RopeTables tables = ComputeRopeTables(inv_freq, seq);
  ASSIGN_OR_RETURN(a->cos, Buffer(backend, seq * (D / 2)));
  ASSIGN_OR_RETURN(a->sin, Buffer(backend, seq * (D / 2)));
  RETURN_IF_ERROR(backend->CopyToDevice(a->cos.data(), tables.cos.data(), seq * (D / 2) * 4));
  RETURN_IF_ERROR(backend->CopyToDevice(a->sin.data(), tables.sin.data(), seq * (D / 2) * 4));
  const AttentionShape as{batch, seq, c.num_attention_heads, c.num_key_value_heads, D};
  const int64_t saved = backend->AttentionSavedElements(as);
  a->layers.resize(static_cast<size_t>(c.num_hidden_layers));
  const std::array<int64_t, kNumLlamaProjs> in_dims = {C, C, C, Dq, C, C, I};  // LlamaProj order
  int64_t dropout_width = 0;  // Dmax
  a->recompute = recompute;
  // One layer's saved activations but x_in; `lora_layer` says which layer's adapted projections get xa buffers
  // (under recompute the work set serves every layer, so it takes the union).
  const auto plan_layer = [&](LlamaLayerActivations& la, const std::vector<size_t>& lora_layers) -> absl::Status {
    ASSIGN_OR_RETURN(la.rstd1, Buffer(backend, N));
    ASSIGN_OR_RETURN(la.h1, Buffer(backend, N * C));
    ASSIGN_OR_RETURN(la.q, Buffer(backend, N * Dq));
    ASSIGN_OR_RETURN(la.k, Buffer(backend, N * Dkv));
    ASSIGN_OR_RETURN(la.v, Buffer(backend, N * Dkv));
    ASSIGN_OR_RETURN(la.att, Buffer(backend, N * Dq));
    ASSIGN_OR_RETURN(la.saved, Buffer(backend, saved));
    ASSIGN_OR_RETURN(la.x_mid, Buffer(backend, N * C));
    ASSIGN_OR_RETURN(la.rstd2, Buffer(backend, N));
    ASSIGN_OR_RETURN(la.h2, Buffer(backend, N * C));
    ASSIGN_OR_RETURN(la.gate, Buffer(backend, N * I));
    ASSIGN_OR_RETURN(la.up, Buffer(backend, N * I));
    ASSIGN_OR_RETURN(la.act, Buffer(backend, N * I));
    if (lora.empty()) return absl::OkStatus();
    for (int p = 0; p < kNumLlamaProjs; ++p) {
      int64_t r = 0;
      for (size_t l : lora_layers) {
        r = std::max<int64_t>(r, lora[l][p].rank);
        if (lora[l][p].rank > 0 && lora[l][p].dropout > 0.0f) dropout_width = std::max(dropout_width, in_dims[p]);
      }
      if (r > 0) {
        ASSIGN_OR_RETURN(la.xa[p], Buffer(backend, N * r));
      }
    }
    return absl::OkStatus();
  };
  std::vector<size_t> all_layers(a->layers.size());
  for (size_t l = 0; l < a->layers.size(); ++l) {
    all_layers[l] = l;
    ASSIGN_OR_RETURN(a->layers[l].x_in, Buffer(backend, N * C));
    if (!recompute) RETURN_IF_ERROR(plan_layer(a->layers[l], {l}));
  }
  if (recompute) {
    RETURN_IF_ERROR(plan_layer(a->work, all_layers));
    ASSIGN_OR_RETURN(a->layer_out, Buffer(backend, N * C));
  }
  if (dropout_width > 0) {
    ASSIGN_OR_RETURN(a->keep_mask, Buffer(backend, N * dropout_width));
    ASSIGN_OR_RETURN(a->x_drop, Buffer(backend, N * dropout_width));
  }
  ASSIGN_OR_RETURN(a->x_final, Buffer(backend, N * C));
  ASSIGN_OR_RETURN(a->rstd_f, Buffer(backend, N));
  ASSIGN_OR_RETURN(a->h_f, Buffer(backend, N * C));
  ASSIGN_OR_RETURN(a->logits, Buffer(backend, N * V));
  ASSIGN_OR_RETURN(a->lse, Buffer(backend, N));
  ASSIGN_OR_RETURN(a->losses, Buffer(backend, N));
  ASSIGN_OR_RETURN(a->proj, Buffer(backend, N * C));
  ASSIGN_OR_RETURN(a->dx, Buffer(backend, N * C));
  ASSIGN_OR_RETURN(a->dh, Buffer(backend, N * C));
  ASSIGN_OR_RETURN(a->dtmp, Buffer(backend, N * C));
  ASSIGN_OR_RETURN(a->datt, Buffer(backend, N * Dq));
  ASSIGN_OR_RETURN(a->dq, Buffer(backend, N * Dq));
  ASSIGN_OR_RETURN(a->dk, Buffer(backend, N * Dkv));
  ASSIGN_OR_RETURN(a->dv, Buffer(backend, N * Dkv));
  ASSIGN_OR_RETURN(a->dact, Buffer(backend, N * I));
  ASSIGN_OR_RETURN(a->dgate, Buffer(backend, N * I));
  ASSIGN_OR_RETURN(a->dup, Buffer(backend, N * I));
  return a;
}

absl::Status LlamaModel::Prepare(const std::vector<int32_t>& ids, int64_t batch, int64_t seq,
                                 const LlamaPacking* packing) {
  const int64_t N = batch * seq;
  if (batch < 1 || seq < 1 || static_cast<int64_t>(ids.size()) != N) {
    return absl::InvalidArgumentError(absl::StrCat("forward: ", ids.size(), " ids for batch ", batch, " x seq ", seq));
  }
  for (int32_t id : ids) {
    if (id < 0 || id >= config_.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("forward: token id ", id, " outside [0, ", config_.vocab_size, ")"));
    }
  }
  if (packing != nullptr) {
    if (static_cast<int64_t>(packing->position_ids.size()) != N ||
        static_cast<int64_t>(packing->segment_ids.size()) != N) {
      return absl::InvalidArgumentError(absl::StrCat("forward: packing has ", packing->position_ids.size(),
                                                     " position ids and ", packing->segment_ids.size(),
                                                     " segment ids for batch ", batch, " x seq ", seq));
    }
    // The RoPE tables cover positions [0, seq): a document's positions restart at 0, so they stay below seq.
    for (int32_t p : packing->position_ids) {
      if (p < 0 || p >= seq) {
        return absl::InvalidArgumentError(absl::StrCat("forward: position id ", p, " outside [0, seq=", seq, ")"));
      }
    }
  }
  if (acts_ == nullptr || batch > acts_->capacity_batch || seq > acts_->capacity_seq ||
      acts_->with_lora != has_lora_ || acts_->recompute != recompute_activations_) {
    // Grow to cover every shape seen so far, freeing the old plan before making the new one.
    const int64_t plan_batch = acts_ != nullptr ? std::max(batch, acts_->capacity_batch) : batch;
    const int64_t plan_seq = acts_ != nullptr ? std::max(seq, acts_->capacity_seq) : seq;
    acts_.reset();
    const std::vector<std::array<LlamaLoraModule, kNumLlamaProjs>> none;
    ASSIGN_OR_RETURN(acts_, PlanLlamaActivations(backend_, config_, inv_freq_, has_lora_ ? lora_ : none, plan_batch,
                                                 plan_seq, recompute_activations_));
  }
  acts_->batch = batch;
  acts_->seq = seq;
  acts_->packed = packing != nullptr;
  if (packing != nullptr) {
    RETURN_IF_ERROR(backend_->CopyToDevice(acts_->positions.data(), packing->position_ids.data(), N * 4));
    RETURN_IF_ERROR(backend_->CopyToDevice(acts_->segments.data(), packing->segment_ids.data(), N * 4));
  }
  return backend_->CopyToDevice(acts_->ids.data(), ids.data(), N * 4);
}

absl::Status LlamaModel::LinearForward(const float* x, LlamaWeightView w, const DeviceBuffer& bias,
                                       const LlamaLoraModule& lora, float* xa, int64_t n, int64_t in, int64_t out,
                                       float* y) {
  const float* lora_x = x;
  if (lora.rank > 0) {
    ASSIGN_OR_RETURN(const LoraBranchInput branch, DropoutLoraInput(x, lora, n, in));
    lora_x = branch.x_d;
  }
  return LlamaLinearForward(backend_, x, w, bias, acts_->ones.data(), lora, lora_x, xa, n, in, out, y);
}

absl::Status LlamaModel::LayerForward(int64_t l, const float* x_in, LlamaLayerActivations& la, float* x_out) {
  const LlamaConfig& c = config_;
  LlamaActivations& a = *acts_;
  const int64_t B = a.batch, T = a.seq, N = B * T, C = c.hidden_size;
  const int64_t I = c.intermediate_size, Dq = c.q_dim(), Dkv = c.kv_dim(), D = c.head_dim;
  const float eps = static_cast<float>(c.rms_norm_eps);
  // Packed rows: per-token RoPE positions and attention segments; otherwise null (positions 0..T-1, one sequence).
  const auto* pos = a.packed ? reinterpret_cast<const int32_t*>(a.positions.data()) : nullptr;
  const auto* seg = a.packed ? reinterpret_cast<const int32_t*>(a.segments.data()) : nullptr;
  const AttentionShape as{B, T, c.num_attention_heads, c.num_key_value_heads, D};
  const RopeShape rq{B, T, c.num_attention_heads, D, T};
  const RopeShape rk{B, T, c.num_key_value_heads, D, T};
  static const LlamaLoraModule kNoLora;
  const LlamaLayerWeights& w = layers_[l];
  auto lora = [&](LlamaProj p) -> const LlamaLoraModule& {
    return has_lora_ ? lora_[l][static_cast<int>(p)] : kNoLora;
  };
  auto xa = [&](LlamaProj p) { return la.xa[static_cast<int>(p)].data(); };
  RETURN_IF_ERROR(backend_->RmsNormForward(x_in, w.input_norm.data(), eps, la.h1.data(), la.rstd1.data(), N, C));
  RETURN_IF_ERROR(LinearForward(la.h1.data(), w.wq.view(), w.bq, lora(LlamaProj::kQ), xa(LlamaProj::kQ), N, C, Dq,
                                la.q.data()));
  RETURN_IF_ERROR(LinearForward(la.h1.data(), w.wk.view(), w.bk, lora(LlamaProj::kK), xa(LlamaProj::kK), N, C, Dkv,
                                la.k.data()));
  RETURN_IF_ERROR(LinearForward(la.h1.data(), w.wv.view(), w.bv, lora(LlamaProj::kV), xa(LlamaProj::kV), N, C, Dkv,
                                la.v.data()));
  RETURN_IF_ERROR(backend_->RopeForward(rq, la.q.data(), a.cos.data(), a.sin.data(), pos, la.q.data()));
  RETURN_IF_ERROR(backend_->RopeForward(rk, la.k.data(), a.cos.data(), a.sin.data(), pos, la.k.data()));
  RETURN_IF_ERROR(backend_->AttentionForward(as, la.q.data(), la.k.data(), la.v.data(), seg, la.att.data(),
                                             la.saved.data()));
  RETURN_IF_ERROR(LinearForward(la.att.data(), w.wo.view(), DeviceBuffer(), lora(LlamaProj::kO), xa(LlamaProj::kO), N,
                                Dq, C, a.proj.data()));
  RETURN_IF_ERROR(backend_->Add(x_in, a.proj.data(), la.x_mid.data(), N * C));
  RETURN_IF_ERROR(backend_->RmsNormForward(la.x_mid.data(), w.post_norm.data(), eps, la.h2.data(), la.rstd2.data(),
                                           N, C));
  RETURN_IF_ERROR(LinearForward(la.h2.data(), w.w_gate.view(), DeviceBuffer(), lora(LlamaProj::kGate),
                                xa(LlamaProj::kGate), N, C, I, la.gate.data()));
  RETURN_IF_ERROR(LinearForward(la.h2.data(), w.w_up.view(), DeviceBuffer(), lora(LlamaProj::kUp), xa(LlamaProj::kUp),
                                N, C, I, la.up.data()));
  RETURN_IF_ERROR(backend_->SwiGluForward(la.gate.data(), la.up.data(), la.act.data(), N * I));
  RETURN_IF_ERROR(LinearForward(la.act.data(), w.w_down.view(), DeviceBuffer(), lora(LlamaProj::kDown),
                                xa(LlamaProj::kDown), N, I, C, a.proj.data()));
  return backend_->Add(la.x_mid.data(), a.proj.data(), x_out, N * C);
}

absl::Status LlamaModel::RunForward() {
  const LlamaConfig& c = config_;
  LlamaActivations& a = *acts_;
  const int64_t N = a.batch * a.seq, C = c.hidden_size, V = c.vocab_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const auto* ids = reinterpret_cast<const int32_t*>(a.ids.data());
  static const LlamaLoraModule kNoLora;
  const int64_t L = c.num_hidden_layers;

  RETURN_IF_ERROR(backend_->EmbeddingForward(ids, embed_.data(), a.layers[0].x_in.data(), N, V, C));
  for (int64_t l = 0; l < L; ++l) {
    float* x_out = l + 1 < L ? a.layers[l + 1].x_in.data() : a.x_final.data();
    RETURN_IF_ERROR(LayerForward(l, a.layers[l].x_in.data(), a.recompute ? a.work : a.layers[l], x_out));
  }
  RETURN_IF_ERROR(backend_->RmsNormForward(a.x_final.data(), final_norm_.data(), eps, a.h_f.data(),
                                           a.rstd_f.data(), N, C));
  const DeviceBuffer& head = c.tie_word_embeddings ? embed_ : lm_head_;
  return LinearForward(a.h_f.data(), {head.data(), {}, {}}, DeviceBuffer(), kNoLora, nullptr, N, C, V, a.logits.data());
}

absl::StatusOr<std::vector<float>> LlamaModel::Forward(const std::vector<int32_t>& ids, int64_t batch, int64_t seq,
                                                       const LlamaPacking* packing) {
  RETURN_IF_ERROR(Prepare(ids, batch, seq, packing));
  RETURN_IF_ERROR(RunForward());
  const int64_t n = batch * seq * config_.vocab_size;
  std::vector<float> out(static_cast<size_t>(n));
  RETURN_IF_ERROR(backend_->CopyToHost(out.data(), acts_->logits.data(), n * 4));
  return out;
}

}  // namespace ftd
