// LlamaModel's forward pass: embedding, then per layer RMSNorm -> q/k/v (+bias) -> RoPE -> causal GQA
// attention -> o_proj -> residual -> RMSNorm -> SwiGLU MLP -> residual, then the final norm and lm_head, each
// step one op of the backend, as HF's modeling_llama.py / modeling_qwen2.py compute it in fp32.
#include "model/llama/llama_model.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/rope_tables.h"

namespace ftd {
namespace {

RopeFreqScaling ToFreqScaling(const RopeScaling& s) {
  RopeFreqScaling out;
  switch (s.type) {
    case RopeScalingType::kNone: out.type = RopeFreqScaling::Type::kDefault; break;
    case RopeScalingType::kLinear: out.type = RopeFreqScaling::Type::kLinear; break;
    case RopeScalingType::kLlama3: out.type = RopeFreqScaling::Type::kLlama3; break;
  }
  out.factor = s.factor;
  out.low_freq_factor = s.low_freq_factor;
  out.high_freq_factor = s.high_freq_factor;
  out.original_max_position_embeddings = s.original_max_position_embeddings;
  return out;
}

// Uploads the named tensor of `hf` as fp32, checking its element count.
absl::StatusOr<DeviceBuffer> Upload(const HfModel& hf, Backend* backend, const std::string& name,
                                    int64_t elements) {
  ASSIGN_OR_RETURN(TensorView view, hf.weights->Get(name));
  ASSIGN_OR_RETURN(std::vector<float> values, ToF32(view));
  if (static_cast<int64_t>(values.size()) != elements) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", values.size(), " elements, the config implies ", elements));
  }
  ASSIGN_OR_RETURN(DeviceBuffer buffer, DeviceBuffer::Create(backend, elements));
  RETURN_IF_ERROR(backend->CopyToDevice(buffer.data(), values.data(), elements * 4));
  return buffer;
}

}  // namespace

absl::StatusOr<DeviceBuffer> DeviceBuffer::Create(Backend* backend, int64_t elements) {
  DeviceBuffer buffer;
  ASSIGN_OR_RETURN(void* ptr, backend->Allocate(elements * static_cast<int64_t>(sizeof(float))));
  buffer.backend_ = backend;
  buffer.data_ = static_cast<float*>(ptr);
  buffer.elements_ = elements;
  return buffer;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept { *this = std::move(other); }

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) backend_->Free(data_).IgnoreError();
    backend_ = std::exchange(other.backend_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    elements_ = std::exchange(other.elements_, 0);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) backend_->Free(data_).IgnoreError();
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Load(const HfModel& hf, Backend* backend) {
  const LlamaConfig& c = hf.config;
  if (c.o_proj_bias || c.mlp_bias) {
    return absl::UnimplementedError("o_proj and mlp biases (attention_bias / mlp_bias) are not supported yet");
  }
  auto model = std::unique_ptr<LlamaModel>(new LlamaModel(backend, c));
  const int64_t C = c.hidden_size, V = c.vocab_size, I = c.intermediate_size, Dq = c.q_dim(), Dkv = c.kv_dim();
  ASSIGN_OR_RETURN(model->embed_, Upload(hf, backend, "model.embed_tokens.weight", V * C));
  if (!c.tie_word_embeddings) {
    ASSIGN_OR_RETURN(model->lm_head_, Upload(hf, backend, "lm_head.weight", V * C));
  }
  ASSIGN_OR_RETURN(model->final_norm_, Upload(hf, backend, "model.norm.weight", C));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    LlamaLayerWeights w;
    ASSIGN_OR_RETURN(w.input_norm, Upload(hf, backend, p + "input_layernorm.weight", C));
    ASSIGN_OR_RETURN(w.wq, Upload(hf, backend, p + "self_attn.q_proj.weight", Dq * C));
    ASSIGN_OR_RETURN(w.wk, Upload(hf, backend, p + "self_attn.k_proj.weight", Dkv * C));
    ASSIGN_OR_RETURN(w.wv, Upload(hf, backend, p + "self_attn.v_proj.weight", Dkv * C));
    if (c.qkv_bias) {
      ASSIGN_OR_RETURN(w.bq, Upload(hf, backend, p + "self_attn.q_proj.bias", Dq));
      ASSIGN_OR_RETURN(w.bk, Upload(hf, backend, p + "self_attn.k_proj.bias", Dkv));
      ASSIGN_OR_RETURN(w.bv, Upload(hf, backend, p + "self_attn.v_proj.bias", Dkv));
    }
    ASSIGN_OR_RETURN(w.wo, Upload(hf, backend, p + "self_attn.o_proj.weight", C * Dq));
    ASSIGN_OR_RETURN(w.post_norm, Upload(hf, backend, p + "post_attention_layernorm.weight", C));
    ASSIGN_OR_RETURN(w.w_gate, Upload(hf, backend, p + "mlp.gate_proj.weight", I * C));
    ASSIGN_OR_RETURN(w.w_up, Upload(hf, backend, p + "mlp.up_proj.weight", I * C));
    ASSIGN_OR_RETURN(w.w_down, Upload(hf, backend, p + "mlp.down_proj.weight", C * I));
    model->layers_.push_back(std::move(w));
  }
  ASSIGN_OR_RETURN(model->inv_freq_, ComputeRopeInvFreq(c.head_dim, c.rope_theta, ToFreqScaling(c.rope_scaling)));
  return model;
}

absl::Status LlamaModel::Linear(const float* x, const DeviceBuffer& w, const DeviceBuffer& bias, int64_t n,
                                int64_t in, int64_t out, float* y) {
  MatmulShape s;
  s.m = n;
  s.n = out;
  s.k = in;
  s.trans_b = Transpose::kYes;
  RETURN_IF_ERROR(backend_->Matmul(s, 1.0f, x, w.data(), 0.0f, y));
  if (bias.data() == nullptr) return absl::OkStatus();
  // y (n, out) += ones (n, 1) @ bias (1, out): the row broadcast as a rank-1 product.
  ASSIGN_OR_RETURN(DeviceBuffer ones, DeviceBuffer::Create(backend_, n));
  RETURN_IF_ERROR(backend_->Fill(ones.data(), 1.0f, n));
  MatmulShape b;
  b.m = n;
  b.n = out;
  b.k = 1;
  return backend_->Matmul(b, 1.0f, ones.data(), bias.data(), 1.0f, y);
}

absl::StatusOr<std::vector<float>> LlamaModel::Forward(const std::vector<int32_t>& ids, int64_t batch,
                                                       int64_t seq) {
  const LlamaConfig& c = config_;
  const int64_t N = batch * seq, C = c.hidden_size, V = c.vocab_size, I = c.intermediate_size;
  const int64_t Dq = c.q_dim(), Dkv = c.kv_dim(), D = c.head_dim;
  if (static_cast<int64_t>(ids.size()) != N || batch < 1 || seq < 1) {
    return absl::InvalidArgumentError(absl::StrCat("forward: ", ids.size(), " ids for batch ", batch, " x seq ", seq));
  }
  const float eps = static_cast<float>(c.rms_norm_eps);
  // Activations, one buffer each (planned once per shape when training arrives).
  ASSIGN_OR_RETURN(DeviceBuffer ids_dev, DeviceBuffer::Create(backend_, N));  // int32 stored in float slots
  ASSIGN_OR_RETURN(DeviceBuffer x, DeviceBuffer::Create(backend_, N * C));     // (B, T, C) residual stream
  ASSIGN_OR_RETURN(DeviceBuffer h, DeviceBuffer::Create(backend_, N * C));     // (B, T, C) normed
  ASSIGN_OR_RETURN(DeviceBuffer rstd, DeviceBuffer::Create(backend_, N));      // (B, T)
  ASSIGN_OR_RETURN(DeviceBuffer q, DeviceBuffer::Create(backend_, N * Dq));    // (B, T, Hq, D)
  ASSIGN_OR_RETURN(DeviceBuffer k, DeviceBuffer::Create(backend_, N * Dkv));   // (B, T, Hkv, D)
  ASSIGN_OR_RETURN(DeviceBuffer v, DeviceBuffer::Create(backend_, N * Dkv));   // (B, T, Hkv, D)
  ASSIGN_OR_RETURN(DeviceBuffer att, DeviceBuffer::Create(backend_, N * Dq));  // (B, T, Hq, D)
  const AttentionShape as{batch, seq, c.num_attention_heads, c.num_key_value_heads, D};
  ASSIGN_OR_RETURN(DeviceBuffer saved, DeviceBuffer::Create(backend_, backend_->AttentionSavedElements(as)));
  ASSIGN_OR_RETURN(DeviceBuffer proj, DeviceBuffer::Create(backend_, N * C));  // (B, T, C)
  ASSIGN_OR_RETURN(DeviceBuffer gate, DeviceBuffer::Create(backend_, N * I));  // (B, T, I)
  ASSIGN_OR_RETURN(DeviceBuffer up, DeviceBuffer::Create(backend_, N * I));    // (B, T, I)
  ASSIGN_OR_RETURN(DeviceBuffer logits, DeviceBuffer::Create(backend_, N * V));  // (B, T, V)
  const RopeTables tables = ComputeRopeTables(inv_freq_, seq);
  ASSIGN_OR_RETURN(DeviceBuffer cos, DeviceBuffer::Create(backend_, seq * (D / 2)));  // (T, D/2)
  ASSIGN_OR_RETURN(DeviceBuffer sin, DeviceBuffer::Create(backend_, seq * (D / 2)));  // (T, D/2)
  RETURN_IF_ERROR(backend_->CopyToDevice(cos.data(), tables.cos.data(), seq * (D / 2) * 4));
  RETURN_IF_ERROR(backend_->CopyToDevice(sin.data(), tables.sin.data(), seq * (D / 2) * 4));
  RETURN_IF_ERROR(backend_->CopyToDevice(ids_dev.data(), ids.data(), N * 4));
  const auto* ids_ptr = reinterpret_cast<const int32_t*>(ids_dev.data());

  RETURN_IF_ERROR(backend_->EmbeddingForward(ids_ptr, embed_.data(), x.data(), N, V, C));
  const RopeShape rq{batch, seq, c.num_attention_heads, D, seq};
  const RopeShape rk{batch, seq, c.num_key_value_heads, D, seq};
  for (LlamaLayerWeights& w : layers_) {
    RETURN_IF_ERROR(backend_->RmsNormForward(x.data(), w.input_norm.data(), eps, h.data(), rstd.data(), N, C));
    RETURN_IF_ERROR(Linear(h.data(), w.wq, w.bq, N, C, Dq, q.data()));
    RETURN_IF_ERROR(Linear(h.data(), w.wk, w.bk, N, C, Dkv, k.data()));
    RETURN_IF_ERROR(Linear(h.data(), w.wv, w.bv, N, C, Dkv, v.data()));
    RETURN_IF_ERROR(backend_->RopeForward(rq, q.data(), cos.data(), sin.data(), nullptr, q.data()));
    RETURN_IF_ERROR(backend_->RopeForward(rk, k.data(), cos.data(), sin.data(), nullptr, k.data()));
    RETURN_IF_ERROR(backend_->AttentionForward(as, q.data(), k.data(), v.data(), nullptr, att.data(), saved.data()));
    RETURN_IF_ERROR(Linear(att.data(), w.wo, DeviceBuffer(), N, Dq, C, proj.data()));
    RETURN_IF_ERROR(backend_->AddInto(x.data(), proj.data(), N * C));
    RETURN_IF_ERROR(backend_->RmsNormForward(x.data(), w.post_norm.data(), eps, h.data(), rstd.data(), N, C));
    RETURN_IF_ERROR(Linear(h.data(), w.w_gate, DeviceBuffer(), N, C, I, gate.data()));
    RETURN_IF_ERROR(Linear(h.data(), w.w_up, DeviceBuffer(), N, C, I, up.data()));
    RETURN_IF_ERROR(backend_->SwiGluForward(gate.data(), up.data(), gate.data(), N * I));
    RETURN_IF_ERROR(Linear(gate.data(), w.w_down, DeviceBuffer(), N, I, C, proj.data()));
    RETURN_IF_ERROR(backend_->AddInto(x.data(), proj.data(), N * C));
  }
  RETURN_IF_ERROR(backend_->RmsNormForward(x.data(), final_norm_.data(), eps, h.data(), rstd.data(), N, C));
  const DeviceBuffer& head = config_.tie_word_embeddings ? embed_ : lm_head_;
  RETURN_IF_ERROR(Linear(h.data(), head, DeviceBuffer(), N, C, V, logits.data()));
  std::vector<float> out(static_cast<size_t>(N * V));
  RETURN_IF_ERROR(backend_->CopyToHost(out.data(), logits.data(), N * V * 4));
  return out;
}

}  // namespace ftd
