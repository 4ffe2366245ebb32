// LoRA on LlamaModel (attaching a PEFT adapter to the projections it targets) and the gradient set a training
// step writes into (full fine-tuning: every weight under its HF name; LoRA: A and B under PEFT's names).
#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "model/hf_model.h"
#include "model/llama/llama_activations.h"
#include "model/llama/llama_model.h"

namespace ftd {
namespace {

// Uploads an adapter tensor as fp32 after checking its shape.
absl::StatusOr<DeviceBuffer> UploadLora(Backend* backend, const Tensor& t, int64_t rows, int64_t cols,
                                        const std::string& name) {
  if (t.shape != std::vector<int64_t>{rows, cols}) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": shape [", absl::StrJoin(t.shape, ", "),
                                                   "], the model needs [", rows, ", ", cols, "]"));
  }
  ASSIGN_OR_RETURN(std::vector<float> values, ToF32(t.view()));
  ASSIGN_OR_RETURN(DeviceBuffer buffer, DeviceBuffer::Create(backend, rows * cols));
  RETURN_IF_ERROR(backend->CopyToDevice(buffer.data(), values.data(), rows * cols * 4));
  return buffer;
}

}  // namespace

absl::Status LlamaModel::AttachLora(const LoraAdapter& adapter) {
  const LoraConfig& lc = adapter.config;
  // nn.Dropout's range; checked in fp32 too, the precision the mask op takes p in (0.99999999 rounds to 1).
  const auto dropout = static_cast<float>(lc.lora_dropout);
  if (!(lc.lora_dropout >= 0.0 && lc.lora_dropout < 1.0 && dropout < 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("LoRA dropout ", lc.lora_dropout, " outside [0, 1)"));
  }
  const LlamaConfig& c = config_;
  const int64_t C = c.hidden_size, I = c.intermediate_size, Dq = c.q_dim(), Dkv = c.kv_dim();
  // (in, out) of each projection, in LlamaProj order.
  const std::array<std::pair<int64_t, int64_t>, kNumLlamaProjs> dims = {
      {{C, Dq}, {C, Dkv}, {C, Dkv}, {Dq, C}, {C, I}, {C, I}, {I, C}}};
  const std::vector<std::string>& modules = LlamaLinearModules();
  std::vector<std::array<LlamaLoraModule, kNumLlamaProjs>> lora(static_cast<size_t>(c.num_hidden_layers));
  const float scale = static_cast<float>(LoraScale(lc));
  for (const auto& [key, pair] : adapter.weights) {
    if (key.layer < 0 || key.layer >= c.num_hidden_layers) {
      return absl::InvalidArgumentError(
          absl::StrCat("LoRA layer ", key.layer, " outside the model's ", c.num_hidden_layers, " layers"));
    }
    int p = 0;
    while (p < kNumLlamaProjs && modules[p] != key.module) ++p;
    if (p == kNumLlamaProjs) return absl::InvalidArgumentError(absl::StrCat("LoRA module ", key.module, " unknown"));
    if (pair.a.shape.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(PeftTensorName(key, false), ": not 2-D"));
    }
    const auto [in, out] = dims[p];
    const int64_t r = pair.a.shape[0];
    LlamaLoraModule& m = lora[key.layer][p];
    m.name_a = PeftTensorName(key, false);
    m.name_b = PeftTensorName(key, true);
    ASSIGN_OR_RETURN(m.a, UploadLora(backend_, pair.a, r, in, m.name_a));
    ASSIGN_OR_RETURN(m.b, UploadLora(backend_, pair.b, out, r, m.name_b));
    m.rank = r;
    m.scale = scale;
    m.dropout = dropout;
    m.index = key.layer * kNumLlamaProjs + p;
  }
  lora_ = std::move(lora);
  has_lora_ = true;
  acts_.reset();  // The plan gains the xa buffers (and the dropout scratch).
  return absl::OkStatus();
}

std::vector<std::string> LlamaGradients::names() const {
  std::vector<std::string> out;
  for (const auto& [name, slot] : slots_) out.push_back(name);
  return out;
}

float* LlamaGradients::Find(const std::string& name) const {
  auto it = slots_.find(name);
  return it == slots_.end() ? nullptr : arena_.data() + it->second.offset;
}

absl::StatusOr<std::vector<float>> LlamaGradients::ToHost(const std::string& name) const {
  auto it = slots_.find(name);
  if (it == slots_.end()) return absl::NotFoundError(absl::StrCat("no gradient named ", name));
  std::vector<float> out(static_cast<size_t>(it->second.elements));
  RETURN_IF_ERROR(backend_->CopyToHost(out.data(), arena_.data() + it->second.offset, it->second.elements * 4));
  return out;
}

absl::Status LlamaGradients::Zero() { return backend_->Fill(arena_.data(), 0.0f, arena_.size()); }

absl::StatusOr<LlamaGradients> LlamaModel::NewGradients(TrainMode mode) const {
  LlamaGradients g;
  g.backend_ = backend_;
  int64_t next = 0;
  auto add = [&](const std::string& name, int64_t elements) -> absl::Status {
    g.slots_.emplace(name, LlamaGradients::Slot{next, elements});
    constexpr int64_t kAlign = 64;  // 256 bytes: every tensor starts where vector loads and GPU kernels like.
    next += (elements + kAlign - 1) / kAlign * kAlign;
    return absl::OkStatus();
  };
  // Lays out the slots, then allocates the arena once, zeroed.
  auto allocate = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(g.arena_, DeviceBuffer::Create(backend_, std::max<int64_t>(next, 1)));
    return backend_->Fill(g.arena_.data(), 0.0f, g.arena_.size());
  };
  if (mode == TrainMode::kFull) {
    if (frozen_projections_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "full fine-tuning needs fp32 weights; this model's projections are ", quantized_ ? "NF4-quantised" : "bf16",
          " (only LoRA trains on them)"));
    }
    for (const HfTensorSpec& spec : LlamaTensorSpecs(config_)) RETURN_IF_ERROR(add(spec.name, NumElements(spec.shape)));
    RETURN_IF_ERROR(allocate());
    return g;
  }
  if (!has_lora_) return absl::FailedPreconditionError("LoRA gradients need an attached adapter (AttachLora)");
  for (const auto& layer : lora_) {
    for (const LlamaLoraModule& m : layer) {
      if (m.rank == 0) continue;
      RETURN_IF_ERROR(add(m.name_a, m.a.size()));
      RETURN_IF_ERROR(add(m.name_b, m.b.size()));
    }
  }
  RETURN_IF_ERROR(allocate());
  return g;
}

}  // namespace ftd
