// EstimateRankMemory: parameter counts from the shape, bytes per parameter by method and device, activations from
// what the forward saves per token and layer.
#include "coordinator/scheduler/memory_estimate.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ftd {
namespace {

double GiB(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0); }

}  // namespace

std::string MemoryEstimate::Describe() const {
  return absl::StrFormat("~%.1f GiB a rank (weights %.1f, trained %.1f, activations %.1f, workspace %.1f GiB)",
                         GiB(total_bytes), GiB(weight_bytes), GiB(trained_bytes), GiB(activation_bytes),
                         GiB(workspace_bytes));
}

absl::StatusOr<MemoryEstimate> EstimateRankMemory(const ModelShape& m, const TrainShape& t) {
  const std::pair<const char*, int64_t> positive[] = {
      {"hidden_size", m.hidden_size},     {"intermediate_size", m.intermediate_size},
      {"num_hidden_layers", m.num_hidden_layers}, {"num_attention_heads", m.num_attention_heads},
      {"num_key_value_heads", m.num_key_value_heads}, {"head_dim", m.head_dim},
      {"vocab_size", m.vocab_size},       {"micro_batch_size", t.micro_batch_size},
      {"sequence_len", t.sequence_len}};
  for (const auto& [name, value] : positive) {
    if (value <= 0) return absl::InvalidArgumentError(absl::StrCat(name, " must be > 0, got ", value));
  }
  if (t.method != EstimateMethod::kFull && t.lora_r <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("lora_r must be > 0, got ", t.lora_r));
  }
  const int64_t c = m.hidden_size, f = m.intermediate_size, layers = m.num_hidden_layers;
  const int64_t q = m.num_attention_heads * m.head_dim, kv = m.num_key_value_heads * m.head_dim;
  // Per layer: q, k, v, o, gate, up, down and two norms.
  const int64_t per_layer = c * q + 2 * c * kv + q * c + 3 * c * f + 2 * c;
  const int64_t embeddings = m.vocab_size * c * (m.tie_word_embeddings ? 1 : 2);
  MemoryEstimate e;
  e.parameters = layers * per_layer + embeddings + c;

  if (t.method == EstimateMethod::kFull) {
    e.trainable_parameters = e.parameters;
  } else {
    // LoRA's A (r, in) and B (out, r) per targeted projection.
    const int64_t r = t.lora_r;
    const int64_t qv = r * (c + q) + r * (c + kv);
    const int64_t all = qv + r * (c + kv) + r * (q + c) + 2 * r * (c + f) + r * (f + c);
    e.trainable_parameters = layers * (t.lora_all_linear ? all : qv);
  }
  // Bytes per frozen base parameter as the backend holds it.
  double weight_bytes_per_parameter = t.device == DeviceKind::kCpu ? 4.0 : 2.0;
  if (t.method == EstimateMethod::kQlora) weight_bytes_per_parameter = 0.5 + 4.0 / 64.0;  // NF4 + fp32 absmax / 64.
  if (t.method == EstimateMethod::kFull && t.device == DeviceKind::kCpu) weight_bytes_per_parameter = 0;  // The master is the weight.
  e.weight_bytes = static_cast<int64_t>(weight_bytes_per_parameter * static_cast<double>(e.parameters));
  e.trained_bytes = e.trainable_parameters * 16;  // fp32 master, gradient, exp_avg, exp_avg_sq.

  // Saved activations per token and layer: the layer input and norms (3c), q/k/v/attention output (2q + 2kv),
  // gate/up/SwiGLU (3f), and on the CPU backend the attention probabilities (heads x seq); plus the logits.
  const int64_t tokens = t.micro_batch_size * t.sequence_len;
  const int64_t activation_bytes_per_value = t.device == DeviceKind::kCpu ? 4 : 2;
  int64_t per_token_layer = 3 * c + 2 * q + 2 * kv + 3 * f;
  if (t.device == DeviceKind::kCpu) per_token_layer += m.num_attention_heads * t.sequence_len;
  e.activation_bytes = tokens * (layers * per_token_layer * activation_bytes_per_value + 2 * m.vocab_size * 4);
  const int64_t subtotal = e.weight_bytes + e.trained_bytes + e.activation_bytes;
  e.workspace_bytes = subtotal / 10 + (t.device == DeviceKind::kCuda ? (int64_t{1} << 30) : (int64_t{256} << 20));
  e.total_bytes = subtotal + e.workspace_bytes;
  return e;
}

}  // namespace ftd
