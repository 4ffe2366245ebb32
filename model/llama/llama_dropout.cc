// LoRA dropout in training, PEFT's nn.Dropout(lora_dropout) in front of lora_A: every adapted projection draws
// its own keep mask per ForwardBackward step from the backend's counter-based DropoutMask, one Philox stream
// per (step, module) under the run's seed, so the backward redraws the forward's mask instead of keeping it.
#include <cstdint>

#include "common/status_macros.h"
#include "model/llama/llama_activations.h"
#include "model/llama/llama_model.h"

namespace ftd {

absl::StatusOr<LlamaModel::LoraBranchInput> LlamaModel::DropoutLoraInput(const float* x, const LlamaLoraModule& lora,
                                                                         int64_t n, int64_t in) {
  if (!dropout_pass_.has_value() || lora.rank == 0 || lora.dropout == 0.0f) return LoraBranchInput{x, nullptr};
  // Streams step * modules + index: distinct for every (step, module), so no mask is ever reused.
  const auto modules = static_cast<uint64_t>(config_.num_hidden_layers * kNumLlamaProjs);
  const uint64_t stream = dropout_pass_->step * modules + static_cast<uint64_t>(lora.index);
  LlamaActivations& a = *acts_;
  RETURN_IF_ERROR(backend_->DropoutMask(dropout_pass_->seed, stream, lora.dropout, a.keep_mask.data(), n * in));
  RETURN_IF_ERROR(backend_->Mul(x, a.keep_mask.data(), a.x_drop.data(), n * in));
  return LoraBranchInput{a.x_drop.data(), a.keep_mask.data()};
}

}  // namespace ftd
