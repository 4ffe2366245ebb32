// LlamaModel: the Llama family (Llama 2/3, Mistral, Qwen2 with q/k/v bias, tied embeddings) on the op API,
// written as explicit layer-by-layer code over explicit activation buffers, in llm.c's spirit: the fp32 forward
// pass to logits, and a training step (HF's causal-LM loss and its gradients) for full fine-tuning or LoRA.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/kernels.h"
#include "kernels/bf16_weight.h"
#include "kernels/nf4_weight.h"
#include "model/hf_model.h"
#include "model/model_config.h"
#include "model/peft_adapter.h"
#include "model/quant/nf4.h"

namespace ftd {

// An array of T on a backend, freed with the object. Move-only.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  static absl::StatusOr<DeviceArray> Create(Backend* backend, int64_t elements) {
    DeviceArray array;
    absl::StatusOr<void*> ptr = backend->Allocate(elements * static_cast<int64_t>(sizeof(T)));
    if (!ptr.ok()) return ptr.status();
    array.backend_ = backend;
    array.data_ = static_cast<T*>(*ptr);
    array.elements_ = elements;
    return array;
  }
  DeviceArray(DeviceArray&& other) noexcept { *this = std::move(other); }
  DeviceArray& operator=(DeviceArray&& other) noexcept {
    if (this != &other) {
      Release();
      backend_ = std::exchange(other.backend_, nullptr);
      data_ = std::exchange(other.data_, nullptr);
      elements_ = std::exchange(other.elements_, 0);
    }
    return *this;
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { Release(); }

  T* data() const { return data_; }
  int64_t size() const { return elements_; }

 private:
  void Release() {
    if (data_ != nullptr) backend_->Free(data_).IgnoreError();
  }
  Backend* backend_ = nullptr;
  T* data_ = nullptr;
  int64_t elements_ = 0;
};
using DeviceBuffer = DeviceArray<float>;
using DeviceBytes = DeviceArray<uint8_t>;
using DeviceBf16 = DeviceArray<uint16_t>;  // bf16 raw bits.

// What the matmul of a projection reads: W (out, in) in fp32 (dense), else bf16 (bf16_weight.h) when bf16.bits is
// set, else NF4-coded (nf4_weight.h).
struct LlamaWeightView {
  const float* dense = nullptr;
  Nf4Weight nf4;
  Bf16Weight bf16;
};

// A projection's weight W (out, in), row-major as in the HF state dict: fp32 (trainable), or frozen: NF4 (QLoRA's
// 4-bit base: the packed codes and each 64-value block's fp32 absmax, double-quantised statistics restored at load)
// or bf16 (a LoRA base at half the bytes).
struct LlamaLinearWeight {
  DeviceBuffer dense;       // (out * in); empty when frozen
  DeviceBytes nf4_packed;   // (ceil(out * in / 2)); empty unless NF4
  DeviceBuffer nf4_absmax;  // (ceil(out * in / 64))
  DeviceBf16 bf16;          // (out * in); empty unless bf16
  int64_t out = 0;
  int64_t in = 0;

  bool quantized() const { return nf4_packed.data() != nullptr; }
  bool frozen() const { return dense.data() == nullptr; }  // NF4 or bf16: no fp32 form to train.
  LlamaWeightView view() const {
    if (!frozen()) return {dense.data(), {}, {}};
    if (quantized()) return {nullptr, {nf4_packed.data(), nf4_absmax.data(), out, in}, {}};
    return {nullptr, {}, {bf16.data(), out, in}};
  }
  // Bytes held on the backend.
  int64_t bytes() const {
    return dense.size() * 4 + nf4_packed.size() + nf4_absmax.size() * 4 + bf16.size() * 2;
  }
};

// One decoder layer's weights, (out, in) row-major as in the HF state dict.
struct LlamaLayerWeights {
  DeviceBuffer input_norm;  // (C)
  LlamaLinearWeight wq, wk, wv;  // (Dq, C), (Dkv, C), (Dkv, C)
  DeviceBuffer bq, bk, bv;       // (Dq), (Dkv), (Dkv); empty unless config.qkv_bias
  LlamaLinearWeight wo;          // (C, Dq)
  DeviceBuffer post_norm;        // (C)
  LlamaLinearWeight w_gate, w_up;  // (I, C)
  LlamaLinearWeight w_down;        // (C, I)
};

// The projections of a decoder layer, in LlamaLinearModules() order; LoRA adapts any of them.
enum class LlamaProj { kQ, kK, kV, kO, kGate, kUp, kDown };
inline constexpr int kNumLlamaProjs = 7;

// One adapted projection: y += scale * (dropout(x) @ A^T) @ B^T. Empty (a.size() == 0) when not adapted.
struct LlamaLoraModule {
  DeviceBuffer a;  // (r, in)
  DeviceBuffer b;  // (out, r)
  int64_t rank = 0;
  float scale = 0.0f;
  float dropout = 0.0f;        // PEFT's lora_dropout p, applied in ForwardBackward only
  int64_t index = 0;           // layer * kNumLlamaProjs + projection: selects this module's dropout stream
  std::string name_a, name_b;  // PEFT's saved key names, the names of their gradients
};

// Where LoRA dropout's masks come from. Each adapted projection draws its own mask in each ForwardBackward call
// (q, k and v too, though they share an input), as a pure function of (seed, step, layer, projection): a Philox
// stream of the backend's DropoutMask op, the same on every backend. So one seed replays a run bit for bit, and
// a run resumed with the saved {seed, step} continues with the masks it would have drawn.
struct LoraDropoutRng {
  uint64_t seed = 0;
  uint64_t step = 0;  // ForwardBackward calls made so far: each uses this step's masks, then advances it
};

// Parameter gradients on the model's backend, fp32, each shaped as its parameter, under the trainable names:
// HF state-dict names in full fine-tuning, PEFT's saved key names for LoRA. ForwardBackward computes
// gradients for exactly the tensors held here and ADDS into them (micro-batches accumulate); Zero() clears.
// All of them live in one flat buffer (each tensor at a 64-float aligned offset, the gaps zero), so data-parallel
// ranks all-reduce a few large buckets instead of one call per tensor. Made by LlamaModel::NewGradients; not
// thread-safe.
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
  // Every gradient (and the zero gaps between them) as one buffer on the backend: what the ranks all-reduce.
  float* flat() const { return arena_.data(); }
  int64_t flat_size() const { return arena_.size(); }

 private:
  friend class LlamaModel;
  struct Slot {
    int64_t offset = 0;    // Into arena_, in floats.
    int64_t elements = 0;
  };
  Backend* backend_ = nullptr;
  DeviceBuffer arena_;
  std::map<std::string, Slot> slots_;
};

// Whose gradients NewGradients makes.
enum class TrainMode {
  kFull,  // every weight of the model (lm_head only when untied: tied, its gradient adds into the embedding's)
  kLora,  // only the attached adapter's A and B; the base weights get none
};

// Sample packing: several documents in each row of a batch, as transformers' padding-free training
// (DataCollatorWithFlattening's position_ids, flash-attention varlen): per token, its position within its document
// (restarting at 0; RoPE's position) and its document's id within the row (a token attends to the earlier tokens
// of its own document only). Views of (batch, seq) host arrays, row-major, read during the call only.
// Without a packing (null), a row is one sequence at positions 0..seq-1, and results are exactly those of a call
// that never heard of packing.
struct LlamaPacking {
  absl::Span<const int32_t> position_ids;  // (batch, seq) in [0, seq)
  absl::Span<const int32_t> segment_ids;   // (batch, seq); equal ids = one document (ids are per row)
};

struct LlamaActivations;  // llama_activations.h: the forward's saved buffers and the backward's scratch.
struct LlamaLayerActivations;  // llama_activations.h: one decoder layer's.

// ---- KV-cache decoding (llama_decode.cc): LlamaKvCache here, NewKvCache and Decode in LlamaModel ----
class LlamaModel;
struct LlamaDecodeScratch;  // llama_decode.cc: Decode's per-call buffers.

// Which of the new tokens' logits Decode returns: the last one's (generation), or every one's (scoring a
// continuation after a cached context).
enum class LlamaDecodeLogits { kLast, kAll };

// The keys and values of one sequence (batch 1), every layer, on the model's backend, for incremental decoding:
// LlamaModel::NewKvCache makes it, LlamaModel::Decode appends to it. It also owns Decode's scratch buffers, so
// decoding never touches the training activations of Forward/ForwardBackward. Move-only; use it only with the
// model that made it, while that model lives; not thread-safe.
class LlamaKvCache {
 public:
  LlamaKvCache(LlamaKvCache&& other) noexcept;
  LlamaKvCache& operator=(LlamaKvCache&& other) noexcept;
  ~LlamaKvCache();

  int64_t length() const { return length_; }    // Tokens held: the next token's position.
  int64_t max_len() const { return max_len_; }  // Capacity in tokens.
  // Forgets the tokens held (a new sequence), keeping the buffers. Needed after AttachLora too: the keys and
  // values held were computed without the new adapter.
  void Clear() { length_ = 0; }
  // Keeps only the first `length` tokens (clamped to what is held), so a shared prefix is decoded once and each
  // continuation after it in turn: rows past `length` are overwritten by the next Decode.
  void Truncate(int64_t length) { length_ = length < 0 ? 0 : (length < length_ ? length : length_); }

 private:
  friend class LlamaModel;
  LlamaKvCache();

  const LlamaModel* model_ = nullptr;
  int64_t max_len_ = 0;
  int64_t length_ = 0;
  std::vector<DeviceBuffer> k_, v_;  // per layer (max_len, Hkv, D); rows [0, length) filled
  DeviceBuffer cos_, sin_;           // (max_len, D/2) RoPE tables
  std::unique_ptr<LlamaDecodeScratch> scratch_;
};
// ---- end of KV-cache decoding ----

// How LlamaModel::Load holds the projection weights (q/k/v/o, gate/up/down of every layer; embeddings, norms and
// lm_head are always fp32, as in QLoRA).
struct LlamaLoadOptions {
  // NF4-quantise them at load (QLoRA), with this absmax form. Unset: fp32. A directory that is itself
  // NF4-quantised (bitsandbytes 4-bit, HfModel::quantization) is always loaded with its codes as stored.
  std::optional<Nf4Statistics> quantize;
  // Hold them in bf16 (rounded to nearest even at load), frozen: LoRA trains over them at half fp32's bytes and a
  // GPU backend multiplies them on tensor cores. Not with `quantize` (INVALID_ARGUMENT).
  bool bf16_projections = false;
};

// Load, then optionally AttachLora; Forward and ForwardBackward are not thread-safe: they reuse activation
// buffers planned for the largest (batch, seq) seen so far and reused by any smaller shape.
class LlamaModel {
 public:
  ~LlamaModel();
  // Copies the weights of `hf` (any floating dtype on disk) to `backend` as fp32, the projections NF4-coded or in
  // bf16 as `options` says (INVALID_ARGUMENT for both at once). UNIMPLEMENTED for config features the forward pass
  // does not handle (o_proj / mlp biases).
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Load(const HfModel& hf, Backend* backend,
                                                          const LlamaLoadOptions& options = {});

  const LlamaConfig& config() const { return config_; }
  Backend* backend() const { return backend_; }
  // Whether the projection weights are NF4 (QLoRA's frozen base): only an adapter trains then.
  bool quantized() const { return quantized_; }
  // Whether they are frozen (NF4 or bf16): only an adapter trains.
  bool frozen_projections() const { return frozen_projections_; }
  // Bytes of the model's own weights on the backend (not the adapter's, gradients or activations).
  int64_t WeightBytes() const;

  // The parameter `name` on the backend, for the optimiser: a HF state-dict name ("model.norm.weight"), or a
  // PEFT key name of the attached adapter (...q_proj.lora_A.weight). Tied models have no "lm_head.weight".
  // NOT_FOUND for any other name, FAILED_PRECONDITION for an NF4-coded projection weight (it has no fp32 form).
  absl::StatusOr<DeviceBuffer*> Parameter(const std::string& name);

  // ids (batch, seq) host, row-major -> logits (batch, seq, vocab) host. Positions are 0..seq-1 per row, one
  // sequence per row, unless `packing` says otherwise (INVALID_ARGUMENT for its sizes or a position outside
  // [0, seq)). The attached LoRA adapter, if any, is applied, without dropout (this is evaluation).
  absl::StatusOr<std::vector<float>> Forward(const std::vector<int32_t>& ids, int64_t batch, int64_t seq,
                                             const LlamaPacking* packing = nullptr);

  // Adds `adapter` to the projections it targets (replacing any attached before): their forward becomes
  // W x (+ b) + scale * B (A x), PEFT's LoRA with scale = lora_alpha / r (or / sqrt(r) with rsLoRA).
  // Its lora_dropout p applies in ForwardBackward only (nn.Dropout in training mode: the branch reads x * mask, the
  // mask 0 with probability p, else 1/(1-p); see LoraDropoutRng). INVALID_ARGUMENT for p outside [0, 1), or a
  // layer, module or shape the model lacks.
  absl::Status AttachLora(const LoraAdapter& adapter);
  bool has_lora() const { return has_lora_; }

  // LoRA dropout's generator: set the seed before training, or a saved state to resume; {0, 0} until set.
  void SetLoraDropoutRng(const LoraDropoutRng& rng) { dropout_rng_ = rng; }
  const LoraDropoutRng& lora_dropout_rng() const { return dropout_rng_; }

  // Zeroed gradients for `mode` (kLora: FAILED_PRECONDITION without an attached adapter; kFull: when quantized()).
  absl::StatusOr<LlamaGradients> NewGradients(TrainMode mode) const;

  // One training step's forward and backward on ids and labels (batch, seq) host, row-major, as HF's
  // *ForCausalLM(input_ids, labels=labels): the labels are shifted inside (position t predicts labels[t+1]),
  // kIgnoreIndex labels add nothing, and the loss is the summed token loss over `loss_denominator` (0: this
  // batch's target count, i.e. the mean). Returns that loss and adds its gradients into `grads` (for the tensors
  // it holds). Gradient accumulation passes the whole step's target count as the denominator, so that the
  // micro-batches add up to the gradient of the step's mean token loss (transformers' num_items_in_batch).
  // INVALID_ARGUMENT for mismatched sizes, labels outside the vocabulary, no target at all, or a denominator
  // below the target count. LoRA dropout, if the adapter has any, applies here (and advances
  // lora_dropout_rng().step).
  // With `packing` (sample packing, see LlamaPacking), RoPE and attention follow it, and a target never crosses
  // documents: position t predicts labels[t+1] only when both tokens share a segment id, so the last token of a
  // document predicts nothing (DataCollatorWithFlattening writes -100 at each document's first label for the
  // same effect, so HF's loss on its batch is this one). The loss is then that of the documents run separately
  // with the same denominator.
  absl::StatusOr<float> ForwardBackward(const std::vector<int32_t>& ids, const std::vector<int32_t>& labels,
                                        int64_t batch, int64_t seq, LlamaGradients* grads,
                                        int64_t loss_denominator = 0, const LlamaPacking* packing = nullptr);

  // Activation recompute (gradient checkpointing per decoder layer): from the next pass on, only each layer's input
  // is kept through the forward, and the backward runs each layer's forward again just before its backward, for
  // about one more forward of compute. Results are bit-identical to keeping every activation (the same ops on the
  // same inputs; LoRA dropout redraws the same masks); the saved activations shrink from
  // N*(4C + 2 + 2Dq + 2Dkv + 3I) + S floats per layer to N*C (llama_activations.h).
  void set_recompute_activations(bool on) { recompute_activations_ = on; }
  bool recompute_activations() const { return recompute_activations_; }

  // ---- KV-cache decoding (llama_decode.cc) ----
  // An empty KV cache for up to max_len tokens. INVALID_ARGUMENT unless 1 <= max_len <= max_position_embeddings.
  absl::StatusOr<LlamaKvCache> NewKvCache(int64_t max_len) const;
  // Runs ids (host: a prompt's prefill, or one sampled token) at positions cache->length() onwards through every
  // layer as Forward does (the attached LoRA adapter applied), appends their keys and values to the cache and
  // returns the logits (vocab) of the last of them, or with kAll those of every one, (ids.size(), vocab) row-major.
  // INVALID_ARGUMENT for no ids or an id outside the vocabulary; OUT_OF_RANGE when they do not fit in the cache;
  // FAILED_PRECONDITION for a cache of another model. On error the cache's length is unchanged.
  absl::StatusOr<std::vector<float>> Decode(LlamaKvCache* cache, const std::vector<int32_t>& ids,
                                            LlamaDecodeLogits logits = LlamaDecodeLogits::kLast);
  // ---- end of KV-cache decoding ----

 private:
  // Out of line, like the destructor: acts_'s type is complete only in the .cc files.
  LlamaModel(Backend* backend, LlamaConfig config);

  // Plans acts_ (growing its capacity to cover (batch, seq) when it does not yet), sets the shape, uploads ids and
  // the packing (null: none).
  absl::Status Prepare(const std::vector<int32_t>& ids, int64_t batch, int64_t seq, const LlamaPacking* packing);
  // Embedding to logits over acts_, saving what the backward needs.
  absl::Status RunForward();
  // Decoder layer l from x_in (B, T, C) into x_out, its activations into la (acts_->layers[l], or acts_->work under
  // recompute).
  absl::Status LayerForward(int64_t l, const float* x_in, LlamaLayerActivations& la, float* x_out);
  // From dlogits (in acts_->logits) back to the embedding, adding into grads.
  absl::Status RunBackward(LlamaGradients& grads);

  // y (n, out) = x (n, in) @ w^T (out, in) [+ bias (out)] [+ LoRA, saving xa (n, r)].
  absl::Status LinearForward(const float* x, LlamaWeightView w, const DeviceBuffer& bias,
                             const LlamaLoraModule& lora, float* xa, int64_t n, int64_t in, int64_t out, float* y);
  // The gradients of LinearForward: dy (n, out) -> dx (n, in) overwritten or accumulated per dx_mode (null: not
  // wanted); dw (which an NF4 weight never has), dbias and the LoRA grads (looked up in grads) added into when
  // wanted (non-null).
  absl::Status LinearBackward(const float* x, LlamaWeightView w, const LlamaLoraModule& lora, const float* xa,
                              const float* dy, int64_t n, int64_t in, int64_t out, float* dx, GradMode dx_mode,
                              float* dw, float* dbias, const LlamaGradients& grads);
  // What a LoRA branch reads: x_d = x * keep_mask under dropout, else x_d = x and keep_mask null.
  struct LoraBranchInput {
    const float* x_d = nullptr;        // (n, in)
    const float* keep_mask = nullptr;  // (n, in) or null
  };
  // LoRA dropout (llama_dropout.cc). During ForwardBackward, for a module with dropout > 0: draws its keep mask
  // for the step in progress into acts_->keep_mask and x * mask into acts_->x_drop (both overwritten by the next
  // call). The same module in the same step always gets the same mask, so the backward redraws it instead of
  // saving it. Otherwise (Forward, p = 0, no adapter) x itself.
  absl::StatusOr<LoraBranchInput> DropoutLoraInput(const float* x, const LlamaLoraModule& lora, int64_t n,
                                                   int64_t in);

  Backend* backend_;
  LlamaConfig config_;
  DeviceBuffer embed_;    // (V, C)
  DeviceBuffer lm_head_;  // (V, C); empty when tied (the embedding is used)
  DeviceBuffer final_norm_;  // (C)
  std::vector<LlamaLayerWeights> layers_;
  std::vector<float> inv_freq_;  // (D/2) host
  bool quantized_ = false;
  bool frozen_projections_ = false;
  bool has_lora_ = false;
  std::vector<std::array<LlamaLoraModule, kNumLlamaProjs>> lora_;  // per layer, indexed by LlamaProj
  LoraDropoutRng dropout_rng_;
  // The dropout generator state of the ForwardBackward in progress (its forward and backward draw from it);
  // empty outside one, so Forward never drops.
  std::optional<LoraDropoutRng> dropout_pass_;
  std::unique_ptr<LlamaActivations> acts_;
  bool recompute_activations_ = false;
};

}  // namespace ftd
