// The CPU backend: "device" memory is host memory, ops run on this process's cores (OpenMP row loops,
// OpenBLAS sgemm). The reference every other backend is measured against in the op harness.
#pragma once

#include "kernels/kernels.h"
#include "kernels/memory_counter.h"

namespace ftd::cpu {

// Stateless apart from OpenMP/OpenBLAS thread pools and the allocation counters (atomic); safe to use from one
// thread at a time (see kernels.h).
class CpuBackend final : public Backend {
 public:
  absl::string_view name() const override { return "cpu"; }

  absl::StatusOr<void*> Allocate(int64_t bytes) override;
  absl::Status Free(void* ptr) override;
  absl::Status CopyToDevice(void* dst, const void* host_src, int64_t bytes) override;
  absl::Status CopyToHost(void* host_dst, const void* src, int64_t bytes) override;
  absl::Status Memset(void* dst, int value, int64_t bytes) override;
  absl::StatusOr<DeviceMemoryStats> MemoryStats() const override;
  absl::StatusOr<NominalPeakFlops> PeakFlops() const override;
  bool host_memory() const override { return true; }

 protected:
  absl::Status DoMatmul(const MatmulShape& s, float alpha, const float* a, const float* b, float beta,
                        float* c) override;
  absl::Status DoMatmulBackward(const MatmulShape& s, float alpha, const float* a, const float* b, const float* dc,
                                float* da, float* db, GradMode mode) override;
  absl::Status DoNf4Matmul(const Nf4Weight& w, int64_t m, float alpha, const float* x, float beta,
                           float* y) override;
  absl::Status DoNf4MatmulBackward(const Nf4Weight& w, int64_t m, float alpha, const float* dy, float* dx,
                                   GradMode mode) override;
  absl::Status DoBf16Matmul(const Bf16Weight& w, int64_t m, float alpha, const float* x, float beta,
                            float* y) override;
  absl::Status DoBf16MatmulBackward(const Bf16Weight& w, int64_t m, float alpha, const float* dy, float* dx,
                                    GradMode mode) override;
  absl::Status DoEmbeddingForward(const int32_t* ids, const float* table, float* out, int64_t n, int64_t vocab,
                                  int64_t dim) override;
  absl::Status DoEmbeddingBackward(const int32_t* ids, const float* dout, float* dtable, int64_t n, int64_t vocab,
                                   int64_t dim) override;
  absl::Status DoRmsNormForward(const float* x, const float* weight, float eps, float* y, float* rstd, int64_t rows,
                                int64_t dim) override;
  absl::Status DoRmsNormBackward(const float* x, const float* weight, const float* rstd, float eps, const float* dy,
                                 float* dx, float* dweight, int64_t rows, int64_t dim) override;
  absl::Status DoRopeForward(const RopeShape& s, const float* x, const float* cos, const float* sin,
                             const int32_t* positions, float* out) override;
  absl::Status DoRopeBackward(const RopeShape& s, const float* dout, const float* cos, const float* sin,
                              const int32_t* positions, float* dx) override;
  absl::Status DoAttentionForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                                  const int32_t* segment_ids, float* out, float* saved) override;
  absl::Status DoAttentionBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                                   const int32_t* segment_ids, const float* out, const float* saved,
                                   const float* dout, float* dq, float* dk, float* dv) override;
  absl::Status DoAttentionDecodeForward(const AttentionDecodeShape& s, const float* q, const float* k,
                                        const float* v, float* out) override;
  absl::Status DoSwiGluForward(const float* gate, const float* up, float* h, int64_t n) override;
  absl::Status DoSwiGluBackward(const float* gate, const float* up, const float* dh, float* dgate, float* dup,
                                int64_t n) override;
  absl::Status DoCrossEntropyForward(const float* logits, const int32_t* targets, float* losses, float* lse,
                                     int64_t rows, int64_t vocab) override;
  absl::Status DoCrossEntropyBackward(const float* logits, const int32_t* targets, const float* lse,
                                      float grad_scale, float* dlogits, int64_t rows, int64_t vocab) override;
  absl::Status DoLoraForward(const LoraShape& s, const float* x_d, const float* a, const float* b, float scale,
                             float* xa, float* y) override;
  absl::Status DoLoraBackward(const LoraShape& s, const float* x_d, const float* keep_mask, const float* a,
                              const float* b, const float* xa, float scale, const float* dy, float* da, float* db,
                              float* dx) override;
  absl::Status DoDropoutMask(uint64_t seed, uint64_t stream, uint32_t threshold, float keep, float* mask,
                             int64_t n) override;
  absl::Status DoAdamWStep(const AdamWConfig& config, float* param, const float* grad, float* m, float* v,
                           int64_t n) override;
  absl::Status DoSumSquares(const float* x, int64_t n, float* sum_sq) override;
  absl::Status DoAdd(const float* a, const float* b, float* out, int64_t n) override;
  absl::Status DoAddInto(float* dst, const float* src, int64_t n) override;
  absl::Status DoMul(const float* a, const float* b, float* out, int64_t n) override;
  absl::Status DoScale(float* x, float alpha, int64_t n) override;
  absl::Status DoCopy(float* dst, const float* src, int64_t n) override;
  absl::Status DoFill(float* x, float value, int64_t n) override;

 private:
  MemoryCounter memory_;
};

}  // namespace ftd::cpu
