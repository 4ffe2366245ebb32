// CpuBackend: host memory (64-byte aligned, for vector loads) and the dispatch of each op to its *Cpu function.
#include "kernels/cpu/cpu_backend.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_peak_flops.h"

namespace ftd::cpu {

absl::StatusOr<void*> CpuBackend::Allocate(int64_t bytes) {
  if (bytes < 0) return absl::InvalidArgumentError(absl::StrCat("cpu Allocate: bytes=", bytes, " < 0"));
  constexpr int64_t kAlign = 64;
  const int64_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, static_cast<size_t>(rounded == 0 ? kAlign : rounded));
  if (p == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cpu Allocate: out of memory for ", bytes, " bytes"));
  }
  // Counted as the allocator's usable size, which Free can read back without a table of sizes.
  const auto held = static_cast<int64_t>(malloc_usable_size(p));
  memory_.Allocated(held);
  return p;
}

absl::Status CpuBackend::Free(void* ptr) {
  if (ptr == nullptr) return absl::OkStatus();
  memory_.Freed(static_cast<int64_t>(malloc_usable_size(ptr)));
  std::free(ptr);
  return absl::OkStatus();
}

absl::StatusOr<DeviceMemoryStats> CpuBackend::MemoryStats() const {
  return memory_.Stats();
}

absl::StatusOr<NominalPeakFlops> CpuBackend::PeakFlops() const { return CpuPeakFlops(); }

absl::Status CpuBackend::CopyToDevice(void* dst, const void* host_src, int64_t bytes) {
  if (bytes > 0) std::memcpy(dst, host_src, static_cast<size_t>(bytes));
  return absl::OkStatus();
}

absl::Status CpuBackend::CopyToHost(void* host_dst, const void* src, int64_t bytes) {
  if (bytes > 0) std::memcpy(host_dst, src, static_cast<size_t>(bytes));
  return absl::OkStatus();
}

absl::Status CpuBackend::Memset(void* dst, int value, int64_t bytes) {
  if (bytes > 0) std::memset(dst, value, static_cast<size_t>(bytes));
  return absl::OkStatus();
}

absl::Status CpuBackend::DoMatmul(const MatmulShape& s, float alpha, const float* a, const float* b, float beta,
                                  float* c) {
  return MatmulCpu(s, alpha, a, b, beta, c);
}
absl::Status CpuBackend::DoMatmulBackward(const MatmulShape& s, float alpha, const float* a, const float* b,
                                          const float* dc, float* da, float* db, GradMode mode) {
  return MatmulBackwardCpu(s, alpha, a, b, dc, da, db, mode);
}
absl::Status CpuBackend::DoNf4Matmul(const Nf4Weight& w, int64_t m, float alpha, const float* x, float beta,
                                     float* y) {
  return Nf4MatmulCpu(w, m, alpha, x, beta, y);
}
absl::Status CpuBackend::DoNf4MatmulBackward(const Nf4Weight& w, int64_t m, float alpha, const float* dy,
                                             float* dx, GradMode mode) {
  return Nf4MatmulBackwardCpu(w, m, alpha, dy, dx, mode);
}
absl::Status CpuBackend::DoBf16Matmul(const Bf16Weight& w, int64_t m, float alpha, const float* x, float beta,
                                      float* y) {
  return Bf16MatmulCpu(w, m, alpha, x, beta, y);
}
absl::Status CpuBackend::DoBf16MatmulBackward(const Bf16Weight& w, int64_t m, float alpha, const float* dy,
                                              float* dx, GradMode mode) {
  return Bf16MatmulBackwardCpu(w, m, alpha, dy, dx, mode);
}
absl::Status CpuBackend::DoEmbeddingForward(const int32_t* ids, const float* table, float* out, int64_t n,
                                            int64_t vocab, int64_t dim) {
  return EmbeddingForwardCpu(ids, table, out, n, vocab, dim);
}
absl::Status CpuBackend::DoEmbeddingBackward(const int32_t* ids, const float* dout, float* dtable, int64_t n,
                                             int64_t vocab, int64_t dim) {
  return EmbeddingBackwardCpu(ids, dout, dtable, n, vocab, dim);
}
absl::Status CpuBackend::DoRmsNormForward(const float* x, const float* weight, float eps, float* y, float* rstd,
                                          int64_t rows, int64_t dim) {
  return RmsNormForwardCpu(x, weight, eps, y, rstd, rows, dim);
}
absl::Status CpuBackend::DoRmsNormBackward(const float* x, const float* weight, const float* rstd, float eps,
                                           const float* dy, float* dx, float* dweight, int64_t rows, int64_t dim) {
  return RmsNormBackwardCpu(x, weight, rstd, eps, dy, dx, dweight, rows, dim);
}
absl::Status CpuBackend::DoRopeForward(const RopeShape& s, const float* x, const float* cos, const float* sin,
                                       const int32_t* positions, float* out) {
  return RopeForwardCpu(s, x, cos, sin, positions, out);
}
absl::Status CpuBackend::DoRopeBackward(const RopeShape& s, const float* dout, const float* cos, const float* sin,
                                        const int32_t* positions, float* dx) {
  return RopeBackwardCpu(s, dout, cos, sin, positions, dx);
}
absl::Status CpuBackend::DoAttentionForward(const AttentionShape& s, const float* q, const float* k,
                                            const float* v, const int32_t* segment_ids, float* out,
                                            float* saved) {
  return AttentionForwardCpu(s, q, k, v, segment_ids, out, saved);
}
absl::Status CpuBackend::DoAttentionBackward(const AttentionShape& s, const float* q, const float* k,
                                             const float* v, const int32_t* segment_ids, const float* out,
                                             const float* saved, const float* dout, float* dq, float* dk,
                                             float* dv) {
  return AttentionBackwardCpu(s, q, k, v, segment_ids, out, saved, dout, dq, dk, dv);
}
absl::Status CpuBackend::DoAttentionDecodeForward(const AttentionDecodeShape& s, const float* q, const float* k,
                                                  const float* v, float* out) {
  return AttentionDecodeForwardCpu(s, q, k, v, out);
}
absl::Status CpuBackend::DoSwiGluForward(const float* gate, const float* up, float* h, int64_t n) {
  return SwiGluForwardCpu(gate, up, h, n);
}
absl::Status CpuBackend::DoSwiGluBackward(const float* gate, const float* up, const float* dh, float* dgate,
                                          float* dup, int64_t n) {
  return SwiGluBackwardCpu(gate, up, dh, dgate, dup, n);
}
absl::Status CpuBackend::DoCrossEntropyForward(const float* logits, const int32_t* targets, float* losses,
                                               float* lse, int64_t rows, int64_t vocab) {
  return CrossEntropyForwardCpu(logits, targets, losses, lse, rows, vocab);
}
absl::Status CpuBackend::DoCrossEntropyBackward(const float* logits, const int32_t* targets, const float* lse,
                                                float grad_scale, float* dlogits, int64_t rows, int64_t vocab) {
  return CrossEntropyBackwardCpu(logits, targets, lse, grad_scale, dlogits, rows, vocab);
}
absl::Status CpuBackend::DoLoraForward(const LoraShape& s, const float* x_d, const float* a, const float* b,
                                       float scale, float* xa, float* y) {
  return LoraForwardCpu(s, x_d, a, b, scale, xa, y);
}
absl::Status CpuBackend::DoLoraBackward(const LoraShape& s, const float* x_d, const float* keep_mask,
                                        const float* a, const float* b, const float* xa, float scale,
                                        const float* dy, float* da, float* db, float* dx) {
  return LoraBackwardCpu(s, x_d, keep_mask, a, b, xa, scale, dy, da, db, dx);
}
absl::Status CpuBackend::DoDropoutMask(uint64_t seed, uint64_t stream, uint32_t threshold, float keep, float* mask,
                                       int64_t n) {
  return DropoutMaskCpu(seed, stream, threshold, keep, mask, n);
}
absl::Status CpuBackend::DoAdamWStep(const AdamWConfig& config, float* param, const float* grad, float* m,
                                     float* v, int64_t n) {
  return AdamWStepCpu(config, param, grad, m, v, n);
}
absl::Status CpuBackend::DoSumSquares(const float* x, int64_t n, float* sum_sq) {
  return SumSquaresCpu(x, n, sum_sq);
}
absl::Status CpuBackend::DoAdd(const float* a, const float* b, float* out, int64_t n) { return AddCpu(a, b, out, n); }
absl::Status CpuBackend::DoAddInto(float* dst, const float* src, int64_t n) { return AddIntoCpu(dst, src, n); }
absl::Status CpuBackend::DoMul(const float* a, const float* b, float* out, int64_t n) { return MulCpu(a, b, out, n); }
absl::Status CpuBackend::DoScale(float* x, float alpha, int64_t n) { return ScaleCpu(x, alpha, n); }
absl::Status CpuBackend::DoCopy(float* dst, const float* src, int64_t n) { return CopyCpu(dst, src, n); }
absl::Status CpuBackend::DoFill(float* x, float value, int64_t n) { return FillCpu(x, value, n); }

}  // namespace ftd::cpu
