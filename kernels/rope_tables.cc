// ComputeRopeInvFreq / ComputeRopeTables: transformers' RoPE frequency math replayed op by op in fp32 (torch
// computes `a / tensor` as reciprocal(tensor) * a, and python scalars enter fp32 ops as fp32).
#include "kernels/rope_tables.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace ftd {

absl::StatusOr<std::vector<float>> ComputeRopeInvFreq(int64_t head_dim, double theta, const RopeFreqScaling& sc) {
  if (head_dim < 2 || head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("rope: head_dim=", head_dim, " must be even and >= 2"));
  }
  if (!(theta > 0.0)) return absl::InvalidArgumentError(absl::StrCat("rope: theta=", theta, " must be > 0"));
  if (sc.type != RopeFreqScaling::Type::kDefault && !(sc.factor > 0.0)) {
    return absl::InvalidArgumentError(absl::StrCat("rope_scaling: factor=", sc.factor, " must be > 0"));
  }
  if (sc.type == RopeFreqScaling::Type::kLlama3 &&
      (!(sc.high_freq_factor > sc.low_freq_factor) || !(sc.low_freq_factor > 0.0) ||
       sc.original_max_position_embeddings < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rope_scaling (llama3): need high_freq_factor > low_freq_factor > 0 and original_max_position_embeddings "
        ">= 1 (high_freq_factor=", sc.high_freq_factor, ", low_freq_factor=", sc.low_freq_factor,
        ", original_max_position_embeddings=", sc.original_max_position_embeddings, ")"));
  }
  const int64_t half = head_dim / 2;
  const float base = static_cast<float>(theta);
  const float dim = static_cast<float>(head_dim);
  std::vector<float> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    // 1.0 / (base ** (arange(0, dim, 2).float() / dim)); the fp32 pow rounded from double.
    const float expo = static_cast<float>(2 * i) / dim;
    const float p = static_cast<float>(std::pow(static_cast<double>(base), static_cast<double>(expo)));
    inv[i] = 1.0f / p;
  }
  if (sc.type == RopeFreqScaling::Type::kLinear) {
    const float factor = static_cast<float>(sc.factor);
    for (float& f : inv) f = f / factor;
  } else if (sc.type == RopeFreqScaling::Type::kLlama3) {
    const float factor = static_cast<float>(sc.factor);
    const float low = static_cast<float>(sc.low_freq_factor);
    const float old_len = static_cast<float>(sc.original_max_position_embeddings);
    const double old_len_d = static_cast<double>(sc.original_max_position_embeddings);
    const float low_freq_wavelen = static_cast<float>(old_len_d / sc.low_freq_factor);
    const float high_freq_wavelen = static_cast<float>(old_len_d / sc.high_freq_factor);
    const float span = static_cast<float>(sc.high_freq_factor - sc.low_freq_factor);
    const float two_pi = static_cast<float>(2.0 * M_PI);
    for (float& f : inv) {
      const float wavelen = (1.0f / f) * two_pi;
      const float llama = wavelen > low_freq_wavelen ? f / factor : f;
      const float smooth = ((1.0f / wavelen) * old_len - low) / span;
      const float smoothed = (1.0f - smooth) * llama / factor + smooth * llama;
      const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
      f = medium ? smoothed : llama;
    }
  }
  return inv;
}

RopeTables ComputeRopeTables(const std::vector<float>& inv_freq, int64_t table_len) {
  RopeTables t;
  t.table_len = table_len;
  t.half_dim = static_cast<int64_t>(inv_freq.size());
  t.cos.resize(static_cast<size_t>(table_len * t.half_dim));
  t.sin.resize(t.cos.size());
  for (int64_t p = 0; p < table_len; ++p) {
    for (int64_t i = 0; i < t.half_dim; ++i) {
      const float angle = inv_freq[i] * static_cast<float>(p);
      t.cos[p * t.half_dim + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      t.sin[p * t.half_dim + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
  return t;
}

}  // namespace ftd
