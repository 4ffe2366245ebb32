// LlamaModel's loading (weights to the backend as fp32, the projections optionally NF4-coded or bf16); the passes
// are in llama_forward.cc, llama_backward.cc and llama_lora.cc.
#include "model/llama/llama_model.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "model/dtype.h"
#include "model/llama/llama_activations.h"
#include "model/quant/nf4_model.h"
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

// The named tensor of `hf` as fp32 on the host, checking its element count.
absl::StatusOr<std::vector<float>> ReadF32(const HfModel& hf, const std::string& name, int64_t elements) {
  ASSIGN_OR_RETURN(TensorView view, hf.weights->Get(name));
  ASSIGN_OR_RETURN(std::vector<float> values, ToF32(view));
  if (static_cast<int64_t>(values.size()) != elements) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", values.size(), " elements, the config implies ", elements));
  }
  return values;
}

// Uploads the named tensor of `hf` as fp32, checking its element count.
absl::StatusOr<DeviceBuffer> Upload(const HfModel& hf, Backend* backend, const std::string& name,
                                    int64_t elements) {
  ASSIGN_OR_RETURN(const std::vector<float> values, ReadF32(hf, name, elements));
  ASSIGN_OR_RETURN(DeviceBuffer buffer, DeviceBuffer::Create(backend, elements));
  RETURN_IF_ERROR(backend->CopyToDevice(buffer.data(), values.data(), elements * 4));
  return buffer;
}

// The NF4 state of projection `name` of `hf`: as stored in a bitsandbytes 4-bit directory, else quantised now.
absl::StatusOr<Nf4Tensor> Nf4Projection(const HfModel& hf, const std::string& name, int64_t out, int64_t in,
                                        Nf4Statistics statistics) {
  if (hf.quantization.has_value()) return ReadNf4Weight(hf, name, {out, in});
  ASSIGN_OR_RETURN(const std::vector<float> values, ReadF32(hf, name, out * in));
  ASSIGN_OR_RETURN_CONTEXT(Nf4Tensor nf4, QuantizeNf4(values, statistics), name);
  return nf4;
}

// A projection weight of `hf` (shape (out, in)) on the backend: fp32, or NF4-coded (`quantize`'s statistics, or
// a quantised directory's own codes).
absl::StatusOr<LlamaLinearWeight> UploadLinear(const HfModel& hf, Backend* backend, const std::string& name,
                                               int64_t out, int64_t in, std::optional<Nf4Statistics> quantize,
                                               bool bf16) {
  LlamaLinearWeight w;
  w.out = out;
  w.in = in;
  if (bf16) {
    ASSIGN_OR_RETURN(const std::vector<float> values, ReadF32(hf, name, out * in));
    std::vector<uint16_t> bits(values.size());
    for (size_t i = 0; i < values.size(); ++i) bits[i] = F32ToBf16(values[i]);
    ASSIGN_OR_RETURN(w.bf16, DeviceBf16::Create(backend, out * in));
    RETURN_IF_ERROR(backend->CopyToDevice(w.bf16.data(), bits.data(), out * in * 2));
    return w;
  }
  if (!quantize.has_value()) {
    ASSIGN_OR_RETURN(w.dense, Upload(hf, backend, name, out * in));
    return w;
  }
  ASSIGN_OR_RETURN(const Nf4Tensor nf4, Nf4Projection(hf, name, out, in, *quantize));
  ASSIGN_OR_RETURN(std::vector<float> absmax, Nf4BlockAbsmax(nf4));
  ASSIGN_OR_RETURN(w.nf4_packed, DeviceBytes::Create(backend, static_cast<int64_t>(nf4.packed.size())));
  RETURN_IF_ERROR(backend->CopyToDevice(w.nf4_packed.data(), nf4.packed.data(), w.nf4_packed.size()));
  ASSIGN_OR_RETURN(w.nf4_absmax, DeviceBuffer::Create(backend, static_cast<int64_t>(absmax.size())));
  RETURN_IF_ERROR(backend->CopyToDevice(w.nf4_absmax.data(), absmax.data(), w.nf4_absmax.size() * 4));
  return w;
}

}  // namespace

LlamaModel::LlamaModel(Backend* backend, LlamaConfig config) : backend_(backend), config_(std::move(config)) {}

LlamaModel::~LlamaModel() = default;

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Load(const HfModel& hf, Backend* backend,
                                                              const LlamaLoadOptions& options) {
  const LlamaConfig& c = hf.config;
  if (c.o_proj_bias || c.mlp_bias) {
    return absl::UnimplementedError("o_proj and mlp biases (attention_bias / mlp_bias) are not supported yet");
  }
  auto model = std::unique_ptr<LlamaModel>(new LlamaModel(backend, c));
  // A quantised directory's projections are NF4 whatever the options say (its own statistics are kept).
  std::optional<Nf4Statistics> quantize = options.quantize;
  if (hf.quantization.has_value()) {
    quantize = hf.quantization->double_quant ? Nf4Statistics::kDoubleQuant : Nf4Statistics::kFp32Absmax;
  }
  if (options.bf16_projections && quantize.has_value()) {
    return absl::InvalidArgumentError(hf.quantization.has_value()
                                          ? "bf16 projections of an NF4-quantised model: its projections are NF4"
                                          : "bf16 projections and NF4 quantisation at once: choose one");
  }
  model->quantized_ = quantize.has_value();
  model->frozen_projections_ = quantize.has_value() || options.bf16_projections;
  const auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    return UploadLinear(hf, backend, name, out, in, quantize, options.bf16_projections);
  };
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
    ASSIGN_OR_RETURN(w.wq, linear(p + "self_attn.q_proj.weight", Dq, C));
    ASSIGN_OR_RETURN(w.wk, linear(p + "self_attn.k_proj.weight", Dkv, C));
    ASSIGN_OR_RETURN(w.wv, linear(p + "self_attn.v_proj.weight", Dkv, C));
    if (c.qkv_bias) {
      ASSIGN_OR_RETURN(w.bq, Upload(hf, backend, p + "self_attn.q_proj.bias", Dq));
      ASSIGN_OR_RETURN(w.bk, Upload(hf, backend, p + "self_attn.k_proj.bias", Dkv));
      ASSIGN_OR_RETURN(w.bv, Upload(hf, backend, p + "self_attn.v_proj.bias", Dkv));
    }
    ASSIGN_OR_RETURN(w.wo, linear(p + "self_attn.o_proj.weight", C, Dq));
    ASSIGN_OR_RETURN(w.post_norm, Upload(hf, backend, p + "post_attention_layernorm.weight", C));
    ASSIGN_OR_RETURN(w.w_gate, linear(p + "mlp.gate_proj.weight", I, C));
    ASSIGN_OR_RETURN(w.w_up, linear(p + "mlp.up_proj.weight", I, C));
    ASSIGN_OR_RETURN(w.w_down, linear(p + "mlp.down_proj.weight", C, I));
    model->layers_.push_back(std::move(w));
  }
  ASSIGN_OR_RETURN(model->inv_freq_, ComputeRopeInvFreq(c.head_dim, c.rope_theta, ToFreqScaling(c.rope_scaling)));
  return model;
}

int64_t LlamaModel::WeightBytes() const {
  int64_t bytes = (embed_.size() + lm_head_.size() + final_norm_.size()) * 4;
  for (const LlamaLayerWeights& w : layers_) {
    bytes += (w.input_norm.size() + w.post_norm.size() + w.bq.size() + w.bk.size() + w.bv.size()) * 4;
    for (const LlamaLinearWeight* p : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down}) bytes += p->bytes();
  }
  return bytes;
}

}  // namespace ftd
