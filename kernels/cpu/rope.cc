// RopeForwardCpu / RopeBackwardCpu: HF rotate_half rotary embedding on (B, T, H, D): the pair (i, i + D/2) of
// every head turns by the angle of row positions[b, t] (or t) of the (table_len, D/2) cos/sin tables.
#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_ops.h"

namespace ftd::cpu {
namespace {

// sign = +1 rotates by +angle (forward), -1 by -angle (backward: the transpose of the rotation).
absl::Status Rotate(absl::string_view op, const RopeShape& s, const float* in, const float* cos, const float* sin,
                    const int32_t* positions, float sign, float* out) {
  const int64_t half = s.head_dim / 2;
  const int64_t rows = s.batch * s.seq;
  if (positions != nullptr) {
    for (int64_t i = 0; i < rows; ++i) {
      if (positions[i] < 0 || positions[i] >= s.table_len) {
        return absl::InvalidArgumentError(absl::StrCat(op, ": positions[", i, "]=", positions[i],
                                                       " is outside [0, table_len=", s.table_len, ")"));
      }
    }
  }
#pragma omp parallel for schedule(static) if (rows * s.heads * s.head_dim >= (1 << 14))
  for (int64_t bt = 0; bt < rows; ++bt) {
    const int64_t pos = positions != nullptr ? positions[bt] : bt % s.seq;
    const float* c = cos + pos * half;
    const float* sn = sin + pos * half;
    for (int64_t h = 0; h < s.heads; ++h) {
      const float* x = in + (bt * s.heads + h) * s.head_dim;
      float* y = out + (bt * s.heads + h) * s.head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float x1 = x[i];
        const float x2 = x[i + half];
        const float si = sign * sn[i];
        // out = x * cos + rotate_half(x) * sin, rotate_half(x) = (-x2, x1).
        y[i] = x1 * c[i] - x2 * si;
        y[i + half] = x2 * c[i] + x1 * si;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RopeForwardCpu(const RopeShape& s, const float* x, const float* cos, const float* sin,
                            const int32_t* positions, float* out) {
  return Rotate("rope", s, x, cos, sin, positions, 1.0f, out);
}

absl::Status RopeBackwardCpu(const RopeShape& s, const float* dout, const float* cos, const float* sin,
                             const int32_t* positions, float* dx) {
  return Rotate("rope_backward", s, dout, cos, sin, positions, -1.0f, dx);
}

}  // namespace ftd::cpu
