// Parameter lookup by name (HF state-dict names and the attached adapter's PEFT key names), for the optimiser,
// and the gradient-set size query it needs.
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "model/llama/llama_model.h"

namespace ftd {

absl::StatusOr<int64_t> LlamaGradients::Elements(const std::string& name) const {
  auto it = slots_.find(name);
  if (it == slots_.end()) return absl::NotFoundError(absl::StrCat("no gradient named ", name));
  return it->second.elements;
}

absl::StatusOr<DeviceBuffer*> LlamaModel::Parameter(const std::string& name) {
  for (auto& layer : lora_) {
    for (LlamaLoraModule& m : layer) {
      if (m.rank == 0) continue;
      if (m.name_a == name) return &m.a;
      if (m.name_b == name) return &m.b;
    }
  }
  if (name == "model.embed_tokens.weight") return &embed_;
  if (name == "model.norm.weight") return &final_norm_;
  if (name == "lm_head.weight" && !config_.tie_word_embeddings) return &lm_head_;
  absl::string_view rest = name;
  int64_t layer = -1;
  if (absl::ConsumePrefix(&rest, "model.layers.")) {
    const size_t dot = rest.find('.');
    if (dot != absl::string_view::npos && absl::SimpleAtoi(rest.substr(0, dot), &layer) && layer >= 0 &&
        layer < static_cast<int64_t>(layers_.size())) {
      rest.remove_prefix(dot + 1);
      LlamaLayerWeights& w = layers_[static_cast<size_t>(layer)];
      LlamaLinearWeight* proj = nullptr;
      if (rest == "self_attn.q_proj.weight") proj = &w.wq;
      else if (rest == "self_attn.k_proj.weight") proj = &w.wk;
      else if (rest == "self_attn.v_proj.weight") proj = &w.wv;
      else if (rest == "self_attn.o_proj.weight") proj = &w.wo;
      else if (rest == "mlp.gate_proj.weight") proj = &w.w_gate;
      else if (rest == "mlp.up_proj.weight") proj = &w.w_up;
      else if (rest == "mlp.down_proj.weight") proj = &w.w_down;
      if (proj != nullptr && proj->frozen()) {
        return absl::FailedPreconditionError(absl::StrCat(name, " is ", proj->quantized() ? "NF4-quantised" : "bf16",
                                                          ": it has no fp32 parameter"));
      }
      if (proj != nullptr) return &proj->dense;
      DeviceBuffer* found = nullptr;
      if (rest == "input_layernorm.weight") found = &w.input_norm;
      else if (rest == "post_attention_layernorm.weight") found = &w.post_norm;
      else if (config_.qkv_bias && rest == "self_attn.q_proj.bias") found = &w.bq;
      else if (config_.qkv_bias && rest == "self_attn.k_proj.bias") found = &w.bk;
      else if (config_.qkv_bias && rest == "self_attn.v_proj.bias") found = &w.bv;
      if (found != nullptr) return found;
    }
  }
  return absl::NotFoundError(absl::StrCat("the model has no parameter named ", name));
}

}  // namespace ftd
