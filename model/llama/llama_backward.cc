// LlamaModel's training step: HF's causal-LM loss (shifted labels, mean over non-ignored targets) and its
// backward pass, in the reverse order of llama_forward.cc, one backend op per step. Parameter gradients are
// computed only for the tensors the LlamaGradients holds (so frozen base weights under LoRA cost no dW
// matmul) and added into them; activation gradients live in LlamaActivations' scratch and are overwritten.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "model/llama/llama_activations.h"
#include "model/llama/llama_model.h"

namespace ftd {

absl::Status LlamaModel::LinearBackward(const float* x, LlamaWeightView w, const LlamaLoraModule& lora,
                                        const float* xa, const float* dy, int64_t n, int64_t in, int64_t out,
                                        float* dx, GradMode dx_mode, float* dw, float* dbias,
                                        const LlamaGradients& grads) {
  MatmulShape s;
  s.m = n;
  s.n = out;
  s.k = in;
  s.trans_b = Transpose::kYes;
  if (w.dense == nullptr) {
    // NF4 or bf16: frozen, so only the input gradient passes.
    if (dw != nullptr) return absl::InternalError("a weight gradient was asked of a frozen (NF4 or bf16) projection");
    if (dx != nullptr && w.bf16.bits != nullptr) {
      RETURN_IF_ERROR(backend_->Bf16MatmulBackward(w.bf16, n, 1.0f, dy, dx, dx_mode));
    } else if (dx != nullptr) {
      RETURN_IF_ERROR(backend_->Nf4MatmulBackward(w.nf4, n, 1.0f, dy, dx, dx_mode));
    }
  } else {
    // Two calls because dx and dw differ in mode: dx per the caller (q/k/v sum into one dh), dw accumulated.
    RETURN_IF_ERROR(backend_->MatmulBackward(s, 1.0f, x, w.dense, dy, dx, nullptr, dx_mode));
    if (dw != nullptr) {
      RETURN_IF_ERROR(backend_->MatmulBackward(s, 1.0f, x, w.dense, dy, nullptr, dw, GradMode::kAccumulate));
    }
  }
  if (dbias != nullptr) {
    // The bias was added as ones (n, 1) @ bias (1, out); its gradient is ones^T @ dy, the column sums of dy.
    MatmulShape b;
    b.m = n;
    b.n = out;
    b.k = 1;
    RETURN_IF_ERROR(
        backend_->MatmulBackward(b, 1.0f, acts_->ones.data(), dbias, dy, nullptr, dbias, GradMode::kAccumulate));
  }
  if (lora.rank == 0) return absl::OkStatus();
  // Under dropout, the forward's mask again (the same step and module draw the same one) and x_d = x * mask.
  ASSIGN_OR_RETURN(const LoraBranchInput branch, DropoutLoraInput(x, lora, n, in));
  const LoraShape ls{n, in, out, lora.rank};
  float* da = grads.Find(lora.name_a);
  float* db = grads.Find(lora.name_b);
  if (da == nullptr && db == nullptr && branch.keep_mask != nullptr && dx != nullptr) {
    // A frozen adapter under dropout passes the masked input gradient; LoraBackward masks it (into throwaway
    // dA and dB).
    ASSIGN_OR_RETURN(DeviceBuffer unused, DeviceBuffer::Create(backend_, lora.a.size() + lora.b.size()));
    RETURN_IF_ERROR(backend_->Fill(unused.data(), 0.0f, unused.size()));
    return backend_->LoraBackward(ls, branch.x_d, branch.keep_mask, lora.a.data(), lora.b.data(), xa, lora.scale,
                                  dy, unused.data(), unused.data() + lora.a.size(), dx);
  }
  if (da == nullptr && db == nullptr && dx == nullptr) return absl::OkStatus();
  if (da == nullptr && db == nullptr) {
    // A frozen adapter still passes its share of the input gradient: dx += scale * dy @ B @ A.
    MatmulShape s1;  // t (n, r) = dy (n, out) @ B (out, r)
    s1.m = n;
    s1.n = lora.rank;
    s1.k = out;
    MatmulShape s2;  // dx (n, in) += scale * t (n, r) @ A (r, in)
    s2.m = n;
    s2.n = in;
    s2.k = lora.rank;
    ASSIGN_OR_RETURN(DeviceBuffer t, DeviceBuffer::Create(backend_, n * lora.rank));
    RETURN_IF_ERROR(backend_->Matmul(s1, 1.0f, dy, lora.b.data(), 0.0f, t.data()));
    return backend_->Matmul(s2, lora.scale, t.data(), lora.a.data(), 1.0f, dx);
  }
  if (da == nullptr || db == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("gradients hold only one of ", lora.name_a, " and ", lora.name_b));
  }
  return backend_->LoraBackward(ls, branch.x_d, branch.keep_mask, lora.a.data(), lora.b.data(), xa, lora.scale, dy,
                                da, db, dx);
}

absl::StatusOr<float> LlamaModel::ForwardBackward(const std::vector<int32_t>& ids, const std::vector<int32_t>& labels,
                                                  int64_t batch, int64_t seq, LlamaGradients* grads,
                                                  int64_t loss_denominator, const LlamaPacking* packing) {
  if (grads == nullptr || grads->backend_ != backend_) {
    return absl::InvalidArgumentError("forward_backward: gradients must come from this model's NewGradients");
  }
  if (labels.size() != ids.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("forward_backward: ", labels.size(), " labels for ", ids.size(), " ids"));
  }
  RETURN_IF_ERROR(Prepare(ids, batch, seq, packing));
  // HF's ForCausalLMLoss: logits[:, t] predict labels[:, t + 1]; the last position predicts nothing, nor, in a
  // packed row, the last position of a document.
  const int64_t N = batch * seq, V = config_.vocab_size;
  std::vector<int32_t> targets(static_cast<size_t>(N), kIgnoreIndex);
  int64_t n_targets = 0;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t + 1 < seq; ++t) {
      const int32_t label = labels[b * seq + t + 1];
      if (label == kIgnoreIndex) continue;
      if (packing != nullptr && packing->segment_ids[b * seq + t + 1] != packing->segment_ids[b * seq + t]) continue;
      if (label < 0 || label >= V) {
        return absl::InvalidArgumentError(absl::StrCat("forward_backward: label ", label, " outside [0, ", V, ")"));
      }
      targets[b * seq + t] = label;
      ++n_targets;
    }
  }
  if (n_targets == 0) {
    return absl::InvalidArgumentError("forward_backward: every label is ignored (HF's loss would be NaN)");
  }
  if (loss_denominator == 0) loss_denominator = n_targets;
  if (loss_denominator < n_targets) {
    return absl::InvalidArgumentError(absl::StrCat("forward_backward: loss denominator ", loss_denominator,
                                                   " is below the batch's ", n_targets, " targets"));
  }
  LlamaActivations& a = *acts_;
  RETURN_IF_ERROR(backend_->CopyToDevice(a.targets.data(), targets.data(), N * 4));
  // This call's dropout masks come from the current step; the next call draws new ones.
  dropout_pass_ = dropout_rng_;
  ++dropout_rng_.step;
  absl::Cleanup end_of_pass = [this] { dropout_pass_.reset(); };
  RETURN_IF_ERROR(RunForward());
  const auto* tgt = reinterpret_cast<const int32_t*>(a.targets.data());
  RETURN_IF_ERROR(backend_->CrossEntropyForward(a.logits.data(), tgt, a.losses.data(), a.lse.data(), N, V));
  std::vector<float> losses(static_cast<size_t>(N));
  RETURN_IF_ERROR(backend_->CopyToHost(losses.data(), a.losses.data(), N * 4));
  double sum = 0;
  for (float x : losses) sum += x;
  // d(sum / denominator)/d(loss_i) = 1/denominator; dlogits overwrite the logits (no second (N, V) buffer).
  const float grad_scale = 1.0f / static_cast<float>(loss_denominator);
  RETURN_IF_ERROR(
      backend_->CrossEntropyBackward(a.logits.data(), tgt, a.lse.data(), grad_scale, a.logits.data(), N, V));
  RETURN_IF_ERROR(RunBackward(*grads));
  return static_cast<float>(sum / static_cast<double>(loss_denominator));
}

absl::Status LlamaModel::RunBackward(LlamaGradients& grads) {
  const LlamaConfig& c = config_;
  LlamaActivations& a = *acts_;
  const int64_t B = a.batch, T = a.seq, N = B * T, C = c.hidden_size, V = c.vocab_size;
  const int64_t I = c.intermediate_size, Dq = c.q_dim(), Dkv = c.kv_dim(), D = c.head_dim;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const AttentionShape as{B, T, c.num_attention_heads, c.num_key_value_heads, D};
  const RopeShape rq{B, T, c.num_attention_heads, D, T};
  const RopeShape rk{B, T, c.num_key_value_heads, D, T};
  const auto* pos = a.packed ? reinterpret_cast<const int32_t*>(a.positions.data()) : nullptr;
  const auto* seg = a.packed ? reinterpret_cast<const int32_t*>(a.segments.data()) : nullptr;
  static const LlamaLoraModule kNoLora;
  const auto G = [&](const std::string& name) { return grads.Find(name); };

  // lm_head: logits = h_f @ head^T. Tied, head is the embedding, whose gradient gets both contributions.
  const DeviceBuffer& head = c.tie_word_embeddings ? embed_ : lm_head_;
  float* dhead = G(c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight");
  RETURN_IF_ERROR(LinearBackward(a.h_f.data(), {head.data(), {}, {}}, kNoLora, nullptr, a.logits.data(), N, C, V,
                                 a.dh.data(), GradMode::kOverwrite, dhead, nullptr, grads));
  RETURN_IF_ERROR(backend_->RmsNormBackward(a.x_final.data(), final_norm_.data(), a.rstd_f.data(), eps, a.dh.data(),
                                            a.dx.data(), G("model.norm.weight"), N, C));

  float* dembed = G("model.embed_tokens.weight");
  for (int64_t l = c.num_hidden_layers - 1; l >= 0; --l) {
    const LlamaLayerWeights& w = layers_[l];
    const float* x_in = a.layers[l].x_in.data();
    LlamaLayerActivations& la = a.recompute ? a.work : a.layers[l];
    // Under recompute the layer's activations are made again from its saved input (LoRA dropout redraws the same
    // masks: the same step and module).
    if (a.recompute) RETURN_IF_ERROR(LayerForward(l, x_in, la, a.layer_out.data()));
    const std::string p = absl::StrCat("model.layers.", l, ".");
    // The gradient of the first layer's input reaches only the embedding and that layer's input norm: when
    // neither is trained (LoRA), its q/k/v input gradients and the norm's backward are skipped.
    const bool input_grad = l > 0 || dembed != nullptr || G(p + "input_layernorm.weight") != nullptr;
    float* dh1 = input_grad ? a.dh.data() : nullptr;
    auto lora = [&](LlamaProj pr) -> const LlamaLoraModule& {
      return has_lora_ ? lora_[l][static_cast<int>(pr)] : kNoLora;
    };
    auto xa = [&](LlamaProj pr) { return la.xa[static_cast<int>(pr)].data(); };

    // MLP: x_out = x_mid + down(silu(gate(h2)) * up(h2)), h2 = post_norm(x_mid). dx holds d x_out.
    RETURN_IF_ERROR(LinearBackward(la.act.data(), w.w_down.view(), lora(LlamaProj::kDown), xa(LlamaProj::kDown),
                                   a.dx.data(), N, I, C, a.dact.data(), GradMode::kOverwrite,
                                   G(p + "mlp.down_proj.weight"), nullptr, grads));
    RETURN_IF_ERROR(backend_->SwiGluBackward(la.gate.data(), la.up.data(), a.dact.data(), a.dgate.data(),
                                             a.dup.data(), N * I));
    RETURN_IF_ERROR(LinearBackward(la.h2.data(), w.w_gate.view(), lora(LlamaProj::kGate), xa(LlamaProj::kGate),
                                   a.dgate.data(), N, C, I, a.dh.data(), GradMode::kOverwrite,
                                   G(p + "mlp.gate_proj.weight"), nullptr, grads));
    RETURN_IF_ERROR(LinearBackward(la.h2.data(), w.w_up.view(), lora(LlamaProj::kUp), xa(LlamaProj::kUp), a.dup.data(),
                                   N, C, I, a.dh.data(), GradMode::kAccumulate, G(p + "mlp.up_proj.weight"),
                                   nullptr, grads));
    RETURN_IF_ERROR(backend_->RmsNormBackward(la.x_mid.data(), w.post_norm.data(), la.rstd2.data(), eps,
                                              a.dh.data(), a.dtmp.data(),
                                              G(p + "post_attention_layernorm.weight"), N, C));
    RETURN_IF_ERROR(backend_->AddInto(a.dx.data(), a.dtmp.data(), N * C));  // d x_mid: residual + norm path

    // Attention: x_mid = x_in + o(attn(rope(q(h1)), rope(k(h1)), v(h1))), h1 = input_norm(x_in).
    RETURN_IF_ERROR(LinearBackward(la.att.data(), w.wo.view(), lora(LlamaProj::kO), xa(LlamaProj::kO), a.dx.data(), N,
                                   Dq, C, a.datt.data(), GradMode::kOverwrite, G(p + "self_attn.o_proj.weight"),
                                   nullptr, grads));
    RETURN_IF_ERROR(backend_->AttentionBackward(as, la.q.data(), la.k.data(), la.v.data(), seg, la.att.data(),
                                                la.saved.data(), a.datt.data(), a.dq.data(), a.dk.data(),
                                                a.dv.data()));
    RETURN_IF_ERROR(backend_->RopeBackward(rq, a.dq.data(), a.cos.data(), a.sin.data(), pos, a.dq.data()));
    RETURN_IF_ERROR(backend_->RopeBackward(rk, a.dk.data(), a.cos.data(), a.sin.data(), pos, a.dk.data()));
    RETURN_IF_ERROR(LinearBackward(la.h1.data(), w.wq.view(), lora(LlamaProj::kQ), xa(LlamaProj::kQ), a.dq.data(), N, C,
                                   Dq, dh1, GradMode::kOverwrite, G(p + "self_attn.q_proj.weight"),
                                   G(p + "self_attn.q_proj.bias"), grads));
    RETURN_IF_ERROR(LinearBackward(la.h1.data(), w.wk.view(), lora(LlamaProj::kK), xa(LlamaProj::kK), a.dk.data(), N, C,
                                   Dkv, dh1, GradMode::kAccumulate, G(p + "self_attn.k_proj.weight"),
                                   G(p + "self_attn.k_proj.bias"), grads));
    RETURN_IF_ERROR(LinearBackward(la.h1.data(), w.wv.view(), lora(LlamaProj::kV), xa(LlamaProj::kV), a.dv.data(), N, C,
                                   Dkv, dh1, GradMode::kAccumulate, G(p + "self_attn.v_proj.weight"),
                                   G(p + "self_attn.v_proj.bias"), grads));
    if (!input_grad) break;
    RETURN_IF_ERROR(backend_->RmsNormBackward(x_in, w.input_norm.data(), la.rstd1.data(), eps,
                                              a.dh.data(), a.dtmp.data(), G(p + "input_layernorm.weight"), N, C));
    RETURN_IF_ERROR(backend_->AddInto(a.dx.data(), a.dtmp.data(), N * C));  // d x_in
  }
  if (dembed == nullptr) return absl::OkStatus();
  const auto* ids = reinterpret_cast<const int32_t*>(a.ids.data());
  return backend_->EmbeddingBackward(ids, a.dx.data(), dembed, N, V, C);
}

}  // namespace ftd
