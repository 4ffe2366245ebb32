// EmbeddingForwardCpu / EmbeddingBackwardCpu: token-id row gather and its scatter-add gradient. The backward
// splits the columns across threads so that repeated ids never race.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_ops.h"

namespace ftd::cpu {
namespace {

absl::Status CheckIds(absl::string_view op, const int32_t* ids, int64_t n, int64_t vocab) {
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": ids[", i, "]=", ids[i], " is outside [0, vocab=", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EmbeddingForwardCpu(const int32_t* ids, const float* table, float* out, int64_t n, int64_t vocab,
                                 int64_t dim) {
  if (absl::Status s = CheckIds("embedding", ids, n, vocab); !s.ok()) return s;
#pragma omp parallel for schedule(static) if (n * dim >= (1 << 15))
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(out + i * dim, table + static_cast<int64_t>(ids[i]) * dim, static_cast<size_t>(dim) * sizeof(float));
  }
  return absl::OkStatus();
}

absl::Status EmbeddingBackwardCpu(const int32_t* ids, const float* dout, float* dtable, int64_t n, int64_t vocab,
                                  int64_t dim) {
  if (absl::Status s = CheckIds("embedding_backward", ids, n, vocab); !s.ok()) return s;
  constexpr int64_t kBlock = 64;  // Columns per task: a thread owns whole column blocks of every row.
  const int64_t blocks = (dim + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n * dim >= (1 << 15))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kBlock;
    const int64_t c1 = c0 + kBlock < dim ? c0 + kBlock : dim;
    for (int64_t i = 0; i < n; ++i) {
      float* row = dtable + static_cast<int64_t>(ids[i]) * dim;
      const float* g = dout + i * dim;
      for (int64_t c = c0; c < c1; ++c) row[c] += g[c];
    }
  }
  return absl::OkStatus();
}

}  // namespace ftd::cpu
