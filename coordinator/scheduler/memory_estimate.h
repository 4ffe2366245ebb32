// How much device memory one rank of a job needs, estimated before it runs: the scheduler places ranks only where
// they fit, and a job no registered worker could ever hold is refused at submit with this estimate in the message.
// Pure arithmetic over the model's shape and the job's settings (no model files, no kernels).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace ftd {

enum class DeviceKind { kCpu, kCuda };
enum class EstimateMethod { kLora, kQlora, kFull };

// The Llama-family shape, as config.json gives it.
struct ModelShape {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  bool tie_word_embeddings = false;
};

struct TrainShape {
  EstimateMethod method = EstimateMethod::kLora;
  DeviceKind device = DeviceKind::kCuda;
  int64_t lora_r = 8;
  bool lora_all_linear = false;  // Otherwise q_proj and v_proj (the job spec's default).
  int64_t micro_batch_size = 1;
  int64_t sequence_len = 2048;
};

// Per rank, bytes. Weights are held as the device's backend holds them: bf16 frozen weights on CUDA (NF4 + absmax for
// QLoRA), fp32 on CPU; anything trained has an fp32 master, an fp32 gradient and two fp32 AdamW moments.
struct MemoryEstimate {
  int64_t parameters = 0;         // Of the base model.
  int64_t trainable_parameters = 0;
  int64_t weight_bytes = 0;       // Frozen or working copy of the base weights.
  int64_t trained_bytes = 0;      // Masters + gradients + AdamW moments of what is trained.
  int64_t activation_bytes = 0;   // Saved for the backward at micro_batch_size x sequence_len.
  int64_t workspace_bytes = 0;    // Runtime, allocator slack and kernels' scratch: a fixed share.
  int64_t total_bytes = 0;

  // "~17.6 GiB a rank (weights 2.3, trained 13.1, activations 1.6, workspace 0.6 GiB)".
  std::string Describe() const;
};

// INVALID_ARGUMENT naming the field for a non-positive size.
absl::StatusOr<MemoryEstimate> EstimateRankMemory(const ModelShape& model, const TrainShape& train);

}  // namespace ftd
