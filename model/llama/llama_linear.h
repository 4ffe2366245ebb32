// One projection of a decoder layer as a free function over explicit buffers: the frozen matmul, the optional
// bias and the optional LoRA branch. Internal to model/llama; KV-cache decoding uses it with its own buffers,
// and LlamaModel::LinearForward calls it over the training activations.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/kernels.h"
#include "model/llama/llama_model.h"

namespace ftd {

// y (n, out) = x (n, in) @ w^T (out, in; fp32, bf16 or NF4-coded) [+ bias (out), broadcast as ones (n) @ bias] [+
// the LoRA branch scale * (lora_x @ A^T) @ B^T, saving xa = lora_x @ A^T (n, r)]. lora_x is x itself, or x's
// dropped-out copy in training. ones is read only when bias is non-empty; lora_x and xa only when lora.rank > 0.
absl::Status LlamaLinearForward(Backend* backend, const float* x, LlamaWeightView w, const DeviceBuffer& bias,
                                const float* ones, const LlamaLoraModule& lora, const float* lora_x, float* xa,
                                int64_t n, int64_t in, int64_t out, float* y);

}  // namespace ftd
