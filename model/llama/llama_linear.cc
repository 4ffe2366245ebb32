// LlamaLinearForward: matmul (fp32, bf16 or NF4), bias as a rank-1 product, LoRA branch, each one op of the backend.
#include "model/llama/llama_linear.h"

#include "common/status_macros.h"

namespace ftd {

absl::Status LlamaLinearForward(Backend* backend, const float* x, LlamaWeightView w, const DeviceBuffer& bias,
                                const float* ones, const LlamaLoraModule& lora, const float* lora_x, float* xa,
                                int64_t n, int64_t in, int64_t out, float* y) {
  if (w.dense != nullptr) {
    const MatmulShape frozen{n, out, in, Transpose::kNo, Transpose::kYes};
    RETURN_IF_ERROR(backend->Matmul(frozen, 1.0f, x, w.dense, 0.0f, y));
  } else if (w.bf16.bits != nullptr) {
    RETURN_IF_ERROR(backend->Bf16Matmul(w.bf16, n, 1.0f, x, 0.0f, y));
  } else {
    RETURN_IF_ERROR(backend->Nf4Matmul(w.nf4, n, 1.0f, x, 0.0f, y));
  }
  if (bias.data() != nullptr) {
    const MatmulShape broadcast{n, out, 1};  // y (n, out) += ones (n, 1) @ bias (1, out)
    RETURN_IF_ERROR(backend->Matmul(broadcast, 1.0f, ones, bias.data(), 1.0f, y));
  }
  if (lora.rank == 0) return absl::OkStatus();
  const LoraShape branch{n, in, out, lora.rank};
  return backend->LoraForward(branch, lora_x, lora.a.data(), lora.b.data(), lora.scale, xa, y);
}

}  // namespace ftd
