// Model FLOPs of a training step (DESIGN.md's rule, worked through in bench/README.md): the numerator of MFU, for
// the trainer's per-step report and bench/train_step alike. Per token of a sequence of T positions:
//   2 (N_base + N_adapter)   forward through every matmul weight
//   2 (N_base + N_adapter)   backward: input gradients through every weight
//   2 N_trained              weight gradients, trained weights only (N_adapter for LoRA/QLoRA, N_base for full)
//   6 L T d                  attention QK^T and AV (4Td forward, x3 with the backward, halved for causal)
// N_base counts the projections of every layer and the lm_head (also when tied); the embedding is a lookup and
// elementwise work (norms, RoPE, softmax, SiLU, AdamW) is not counted: "model FLOPs", not hardware FLOPs.
#pragma once

#include <cstdint>

#include "model/model_config.h"

namespace ftd {

// Matmul weights of the projections of all layers plus the lm_head: N_base.
int64_t MatmulWeightCount(const LlamaConfig& config);

// FLOPs of training on one token in a sequence of `seq_len` positions. `adapter_params`: the LoRA parameters
// (0 for full fine-tuning); `full`: every base weight is trained.
int64_t TrainingFlopsPerToken(const LlamaConfig& config, int64_t adapter_params, bool full, int64_t seq_len);

}  // namespace ftd
