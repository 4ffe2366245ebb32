// Host-side RoPE frequency tables (not an op): inv_freq = theta^(-2i/D) with the linear or llama3 scaling of
// transformers' rope_init functions, and the (positions, D/2) cos/sin tables that RopeForward reads.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace ftd {

// config.json's rope_scaling / rope_parameters, the kinds this project supports.
struct RopeFreqScaling {
  enum class Type { kDefault, kLinear, kLlama3 };
  Type type = Type::kDefault;
  double factor = 1.0;                                // linear, llama3
  double low_freq_factor = 1.0;                       // llama3
  double high_freq_factor = 4.0;                      // llama3
  int64_t original_max_position_embeddings = 8192;    // llama3
};

// The D/2 inverse frequencies, computed in fp32 in the same operation order as transformers'
// _compute_default_rope_parameters, _compute_linear_scaling_rope_parameters (inv_freq / factor) and
// _compute_llama3_parameters, so they match its tensors to the last bit or one ulp. The attention scaling of
// these three kinds is 1. INVALID_ARGUMENT for an odd or non-positive head_dim, theta <= 0, factor <= 0 or
// llama3 factors with high_freq_factor <= low_freq_factor.
absl::StatusOr<std::vector<float>> ComputeRopeInvFreq(int64_t head_dim, double theta, const RopeFreqScaling& scaling);

// cos and sin tables for positions 0..table_len-1, each (table_len, D/2) row-major: angle = fp32(inv_freq[i] * p)
// as HF's fp32 matmul computes it.
struct RopeTables {
  int64_t table_len = 0;
  int64_t half_dim = 0;
  std::vector<float> cos;  // (table_len, D/2)
  std::vector<float> sin;  // (table_len, D/2)
};
RopeTables ComputeRopeTables(const std::vector<float>& inv_freq, int64_t table_len);

}  // namespace ftd
