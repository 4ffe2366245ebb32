// LlamaActivations: every buffer one training step of LlamaModel uses, planned once per (batch, seq). Internal
// to model/llama (the forward, backward and LoRA files share it); not part of the public API.
//
// Memory, in floats, with N = B*T tokens, C hidden, I intermediate, Dq/Dkv the q/kv widths, V vocab, r the LoRA
// rank, S = AttentionSavedElements (B*Hq*T*T on the CPU backend):
//   per layer (saved for the backward): N*(4C + 2 + 2Dq + 2Dkv + 3I) + S  [+ N*r per adapted projection]; with
//   activation recompute N*C per layer and the rest once (`work`), plus N*C (layer_out)
//   once: N*(2C + V + 6) + T*D (rope tables) and the backward's scratch N*(4C + 2Dq + 2Dkv + 3I)
//   LoRA dropout (only when some module has p > 0): 2*N*Dmax of scratch once, Dmax the widest input of such a
//   module (C, Dq or I); masks are redrawn in the backward, not saved
// e.g. a 1B Llama (C 2048, I 8192, Dq 2048, Dkv 512, 16 layers, V 128256) at B*T = 8*256 in fp32 keeps about
// 0.35 GiB per layer of saved activations (64 MiB of it the attention probabilities) and 1 GiB of logits.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/kernels.h"
#include "model/llama/llama_model.h"

namespace ftd {

// What the backward of one decoder layer reads: the forward's inputs of every op that has weights or a
// nonlinearity. The residual stream between layers is x_in of the next layer (x_final after the last).
struct LlamaLayerActivations {
  DeviceBuffer x_in;   // (B, T, C) the layer's input (residual stream)
  DeviceBuffer rstd1;  // (B, T) input_layernorm's 1/rms
  DeviceBuffer h1;     // (B, T, C) input_layernorm(x_in): q/k/v's input
  DeviceBuffer q;      // (B, T, Hq, D) after RoPE
  DeviceBuffer k;      // (B, T, Hkv, D) after RoPE
  DeviceBuffer v;      // (B, T, Hkv, D)
  DeviceBuffer att;    // (B, T, Hq, D) attention output: o_proj's input
  DeviceBuffer saved;  // AttentionSavedElements: the backend's attention state (CPU: probabilities)
  DeviceBuffer x_mid;  // (B, T, C) x_in + o_proj(att)
  DeviceBuffer rstd2;  // (B, T) post_attention_layernorm's 1/rms
  DeviceBuffer h2;     // (B, T, C) post_attention_layernorm(x_mid): gate/up's input
  DeviceBuffer gate;   // (B, T, I) gate_proj(h2), before SiLU
  DeviceBuffer up;     // (B, T, I) up_proj(h2)
  DeviceBuffer act;    // (B, T, I) silu(gate) * up: down_proj's input
  std::array<DeviceBuffer, kNumLlamaProjs> xa;  // (B, T, r) LoRA's x @ A^T per adapted projection, else empty
};

// Planned for a capacity (capacity_batch, capacity_seq); a step of any (batch <= capacity_batch, seq <= capacity_seq)
// runs in the same buffers, laid out densely for its own shape, so micro-batches padded to different lengths do
// not re-plan. The comments give each buffer's shape at the current (B, T) = (batch, seq).
struct LlamaActivations {
  int64_t capacity_batch = 0;
  int64_t capacity_seq = 0;
  int64_t batch = 0;  // The current step's shape.
  int64_t seq = 0;
  bool with_lora = false;  // whether xa buffers were planned (re-plan when an adapter is attached later)
  DeviceBuffer ids;        // (B, T) int32 stored in float slots
  bool packed = false;     // The current step has a LlamaPacking: positions and segments hold it.
  DeviceBuffer positions;  // (B, T) int32 in float slots: RoPE positions of a packed step
  DeviceBuffer segments;   // (B, T) int32 in float slots: attention segment ids of a packed step
  DeviceBuffer targets;    // (B, T) int32: the shifted labels, kIgnoreIndex where none
  DeviceBuffer ones;       // (B*T) of 1.0: the bias broadcast as a rank-1 product
  DeviceBuffer cos, sin;   // (T, D/2)
  std::vector<LlamaLayerActivations> layers;
  // Activation recompute (LlamaModel::set_recompute_activations): layers[l] then holds only x_in, every layer's other
  // activations go to `work` in the forward, and the backward recomputes layer l's into `work` from its x_in (its
  // output going to layer_out, unused) just before that layer's backward.
  bool recompute = false;
  LlamaLayerActivations work;  // all but x_in; allocated only when recompute
  DeviceBuffer layer_out;      // (B, T, C) the recomputed layer's output; only when recompute
  DeviceBuffer x_final;  // (B, T, C) the last layer's output
  DeviceBuffer rstd_f;   // (B, T)
  DeviceBuffer h_f;      // (B, T, C) model.norm(x_final): lm_head's input
  DeviceBuffer logits;   // (B, T, V); overwritten in place by dlogits in the backward
  DeviceBuffer lse;      // (B, T)
  DeviceBuffer losses;   // (B, T)
  DeviceBuffer proj;     // (B, T, C) scratch: o_proj / down_proj outputs before the residual add
  // LoRA dropout scratch for the projection at hand, empty unless a module has dropout > 0 (LlamaModel::
  // DropoutLoraInput). Dmax: the widest input among those modules.
  DeviceBuffer keep_mask;  // (B, T, Dmax) of which (B, T, in) used: 0 or 1/(1-p)
  DeviceBuffer x_drop;     // (B, T, Dmax) of which (B, T, in) used: the projection's input times keep_mask
  // Backward scratch; activation gradients are overwritten per layer.
  DeviceBuffer dx;     // (B, T, C) gradient of the residual stream
  DeviceBuffer dh;     // (B, T, C) gradient of a norm's output
  DeviceBuffer dtmp;   // (B, T, C) gradient of a norm's input, before adding into dx
  DeviceBuffer datt;   // (B, T, Hq, D)
  DeviceBuffer dq;     // (B, T, Hq, D)
  DeviceBuffer dk;     // (B, T, Hkv, D)
  DeviceBuffer dv;     // (B, T, Hkv, D)
  DeviceBuffer dact;   // (B, T, I)
  DeviceBuffer dgate;  // (B, T, I)
  DeviceBuffer dup;    // (B, T, I)
};

// Allocates every buffer above for (batch, seq) on `backend`, the xa ones for the adapted projections of `lora`
// (per layer; empty vector: none), the dropout scratch when one of them has dropout > 0, and fills ones, cos and
// sin. With `recompute`, one layer's worth of saved activations (`work`) instead of one per layer.
absl::StatusOr<std::unique_ptr<LlamaActivations>> PlanLlamaActivations(
    Backend* backend, const LlamaConfig& config, const std::vector<float>& inv_freq,
    const std::vector<std::array<LlamaLoraModule, kNumLlamaProjs>>& lora, int64_t batch, int64_t seq,
    bool recompute = false);

}  // namespace ftd
