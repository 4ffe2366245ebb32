// LlamaModel: the Llama family (Llama 2/3, Mistral, Qwen2 with q/k/v bias, tied embeddings) on the op API,
// written as explicit layer-by-layer code over explicit activation buffers, in llm.c's spirit: the fp32 forward
// pass to logits, and a training step (HF's causal-LM loss and its gradients) for full fine-tuning or LoRA.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/kernels.h"
#include "model/hf_model.h"
#include "model/model_config.h"
#include "model/peft_adapter.h"

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

// The projections of a decoder layer, in LlamaLinearModules() order; LoRA adapts any of them.
enum class LlamaProj { kQ, kK, kV, kO, kGate, kUp, kDown };
inline constexpr int kNumLlamaProjs = 7;

// One adapted projection: y += scale * (x @ A^T) @ B^T. Empty (a.size() == 0) when not adapted.
struct LlamaLoraModule {
  DeviceBuffer a;  // (r, in)
  DeviceBuffer b;  // (out, r)
  int64_t rank = 0;
  float scale = 0.0f;
  std::string name_a, name_b;  // PEFT's saved key names, the names of their gradients
};

// Parameter gradients on the model's backend, fp32, each shaped as its parameter, under the trainable names:
// HF state-dict names in full fine-tuning, PEFT's saved key names for LoRA. ForwardBackward computes
// gradients for exactly the tensors held here and ADDS into them (micro-batches accumulate); Zero() clears.
// Made by LlamaModel::NewGradients; not thread-safe.
class LlamaGradients {
 public:
  std::vector<std::string> names() const;  // Sorted.
  // The gradient buffer of `name`, or null when it is not trained (then its gradient is not even computed).
  float* Find(const std::string& name) const;
  // NOT_FOUND for a name not held.
  absl::StatusOr<std::vector<float>> ToHost(const std::string& name) const;
  // Elements of `name`'s gradient (= of its parameter); NOT_FOUND for a name not held.
  absl::StatusOr<int64_t> Elements(const std::string& name) const;
  absl::Status Zero();

 private:
  friend class LlamaModel;
  Backend* backend_ = nullptr;
  std::map<std::string, DeviceBuffer> buffers_;
};

// Whose gradients NewGradients makes.
enum class TrainMode {
  kFull,  // every weight of the model (lm_head only when untied: tied, its gradient adds into the embedding's)
  kLora,  // only the attached adapter's A and B; the base weights get none
};

struct LlamaActivations;  // llama_activations.h: the forward's saved buffers and the backward's scratch.

// Load, then optionally AttachLora; Forward and ForwardBackward are not thread-safe: they reuse activation
// buffers planned once per (batch, seq) and kept until the shape changes.
class LlamaModel {
 public:
  ~LlamaModel();
  // Copies the weights of `hf` (any floating dtype on disk) to `backend` as fp32. UNIMPLEMENTED for config
  // features the forward pass does not handle (o_proj / mlp biases).
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Load(const HfModel& hf, Backend* backend);

  const LlamaConfig& config() const { return config_; }
  Backend* backend() const { return backend_; }

  // The parameter `name` on the backend, for the optimiser: a HF state-dict name ("model.norm.weight"), or a
  // PEFT key name of the attached adapter (...q_proj.lora_A.weight). Tied models have no "lm_head.weight".
  // NOT_FOUND for any other name.
  absl::StatusOr<DeviceBuffer*> Parameter(const std::string& name);

  // ids (batch, seq) host, row-major -> logits (batch, seq, vocab) host. Positions are 0..seq-1 per row; no
  // padding, one sequence per row.
  // The attached LoRA adapter, if any, is applied.
  absl::StatusOr<std::vector<float>> Forward(const std::vector<int32_t>& ids, int64_t batch, int64_t seq);

  // Adds `adapter` to the projections it targets (replacing any attached before): their forward becomes
  // W x (+ b) + scale * B (A x), PEFT's LoRA with scale = lora_alpha / r (or / sqrt(r) with rsLoRA).
  // UNIMPLEMENTED for dropout > 0; INVALID_ARGUMENT for a layer, module or shape the model lacks.
  absl::Status AttachLora(const LoraAdapter& adapter);
  bool has_lora() const { return has_lora_; }

  // Zeroed gradients for `mode` (kLora: FAILED_PRECONDITION without an attached adapter).
  absl::StatusOr<LlamaGradients> NewGradients(TrainMode mode) const;

  // One training step's forward and backward on ids and labels (batch, seq) host, row-major, as HF's
  // *ForCausalLM(input_ids, labels=labels): the labels are shifted inside (position t predicts labels[t+1]),
  // kIgnoreIndex labels add nothing, and the loss is the mean over the remaining targets. Returns that loss and
  // adds its gradients into `grads` (for the tensors it holds). INVALID_ARGUMENT for mismatched sizes, labels
  // outside the vocabulary, or no target at all.
  absl::StatusOr<float> ForwardBackward(const std::vector<int32_t>& ids, const std::vector<int32_t>& labels,
                                        int64_t batch, int64_t seq, LlamaGradients* grads);

 private:
  // Out of line, like the destructor: acts_'s type is complete only in the .cc files.
  LlamaModel(Backend* backend, LlamaConfig config);

  // Plans acts_ for (batch, seq) unless it already has that shape, and uploads ids.
  absl::Status Prepare(const std::vector<int32_t>& ids, int64_t batch, int64_t seq);
  // Embedding to logits over acts_, saving what the backward needs.
  absl::Status RunForward();
  // From dlogits (in acts_->logits) back to the embedding, adding into grads.
  absl::Status RunBackward(LlamaGradients& grads);

  // y (n, out) = x (n, in) @ w^T (out, in) [+ bias (out)] [+ LoRA, saving xa (n, r)].
  absl::Status LinearForward(const float* x, const DeviceBuffer& w, const DeviceBuffer& bias,
                             const LlamaLoraModule& lora, float* xa, int64_t n, int64_t in, int64_t out, float* y);
  // The gradients of LinearForward: dy (n, out) -> dx (n, in) overwritten or accumulated per dx_mode; dw, dbias
  // and the LoRA grads (looked up in grads) added into when wanted (non-null).
  absl::Status LinearBackward(const float* x, const DeviceBuffer& w, const LlamaLoraModule& lora, const float* xa,
                              const float* dy, int64_t n, int64_t in, int64_t out, float* dx, GradMode dx_mode,
                              float* dw, float* dbias, const LlamaGradients& grads);

  Backend* backend_;
  LlamaConfig config_;
  DeviceBuffer embed_;    // (V, C)
  DeviceBuffer lm_head_;  // (V, C); empty when tied (the embedding is used)
  DeviceBuffer final_norm_;  // (C)
  std::vector<LlamaLayerWeights> layers_;
  std::vector<float> inv_freq_;  // (D/2) host
  bool has_lora_ = false;
  std::vector<std::array<LlamaLoraModule, kNumLlamaProjs>> lora_;  // per layer, indexed by LlamaProj
  std::unique_ptr<LlamaActivations> acts_;
};

}  // namespace ftd
