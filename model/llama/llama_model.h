// LlamaModel: the Llama family (Llama 2/3, Mistral, Qwen2 with q/k/v bias, tied embeddings) on the op API,
// written as explicit layer-by-layer code over explicit activation buffers, in llm.c's spirit. Today: the
// fp32 forward pass to logits; the backward pass and LoRA arrive with the training loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/kernels.h"
#include "model/hf_model.h"
#include "model/model_config.h"

namespace ftd {

// A buffer of floats on a backend, freed with the object. Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  static absl::StatusOr<DeviceBuffer> Create(Backend* backend, int64_t elements);
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  float* data() const { return data_; }
  int64_t size() const { return elements_; }

 private:
  Backend* backend_ = nullptr;
  float* data_ = nullptr;
  int64_t elements_ = 0;
};

// One decoder layer's weights, (out, in) row-major as in the HF state dict.
struct LlamaLayerWeights {
  DeviceBuffer input_norm;  // (C)
  DeviceBuffer wq, wk, wv;  // (Dq, C), (Dkv, C), (Dkv, C)
  DeviceBuffer bq, bk, bv;  // (Dq), (Dkv), (Dkv); empty unless config.qkv_bias
  DeviceBuffer wo;          // (C, Dq)
  DeviceBuffer post_norm;   // (C)
  DeviceBuffer w_gate, w_up;  // (I, C)
  DeviceBuffer w_down;        // (C, I)
};

// Immutable after Load; Forward is not thread-safe (it reuses nothing today, but activation planning will).
class LlamaModel {
 public:
  // Copies the weights of `hf` (any floating dtype on disk) to `backend` as fp32. UNIMPLEMENTED for config
  // features the forward pass does not handle (o_proj / mlp biases).
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Load(const HfModel& hf, Backend* backend);

  const LlamaConfig& config() const { return config_; }

  // ids (batch, seq) host, row-major -> logits (batch, seq, vocab) host. Positions are 0..seq-1 per row; no
  // padding, one sequence per row.
  absl::StatusOr<std::vector<float>> Forward(const std::vector<int32_t>& ids, int64_t batch, int64_t seq);

 private:
  LlamaModel(Backend* backend, LlamaConfig config) : backend_(backend), config_(std::move(config)) {}
  // x (n, in) @ w^T (out, in) [+ bias (out)] -> y (n, out).
  absl::Status Linear(const float* x, const DeviceBuffer& w, const DeviceBuffer& bias, int64_t n, int64_t in,
                      int64_t out, float* y);

  Backend* backend_;
  LlamaConfig config_;
  DeviceBuffer embed_;    // (V, C)
  DeviceBuffer lm_head_;  // (V, C); empty when tied (the embedding is used)
  DeviceBuffer final_norm_;  // (C)
  std::vector<LlamaLayerWeights> layers_;
  std::vector<float> inv_freq_;  // (D/2) host
};

}  // namespace ftd
