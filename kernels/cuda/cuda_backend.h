// The CUDA backend: "device" memory is the GPU's (cudaMalloc, counted for MemoryStats), every op runs on the
// backend's one stream through the *Cuda functions of cuda_ops.h, and the host copies synchronise with it. fp32 like
// the CPU backend (products in cuBLAS without TF32), so the op harness holds both to the same thresholds, but for the
// bf16 frozen-weight products, which run on tensor cores. Registered as "cuda" (backend_registry.cc) when a CUDA build finds a device.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/kernels.h"
#include "kernels/memory_counter.h"

namespace ftd::cuda {

// One device (the current one when created: a worker process drives one GPU, picked by --gpu / CUDA_VISIBLE_DEVICES).
// Like every backend, used from one thread at a time; its counters are atomic.
class CudaBackend final : public Backend {
 public:
  // FAILED_PRECONDITION when there is no usable device; the stream and cuBLAS handle are made here.
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create();
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  absl::string_view name() const override { return "cuda"; }

  absl::StatusOr<void*> Allocate(int64_t bytes) override;
  absl::Status Free(void* ptr) override;
  absl::Status CopyToDevice(void* dst, const void* host_src, int64_t bytes) override;
  absl::Status CopyToHost(void* host_dst, const void* src, int64_t bytes) override;  // Waits for the stream.
  absl::Status Memset(void* dst, int value, int64_t bytes) override;
  absl::StatusOr<DeviceMemoryStats> MemoryStats() const override;
  // fp32 (non-tensor) peak: SMs x boost clock x FP32 lanes per SM (64 on sm_80, 128 on sm_86 and later) x 2.
  absl::StatusOr<NominalPeakFlops> PeakFlops() const override;
  absl::Status Synchronize() override;  // cudaStreamSynchronize on the backend's stream.

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
  CudaBackend() = default;
  // CudaContext::scratch_fn: grows the one scratch buffer to `bytes` (freeing the old one after the stream has
  // drained, since queued ops may still read it).
  static absl::StatusOr<void*> Scratch(void* self, int64_t bytes);

  CudaContext ctx_;
  void* scratch_ = nullptr;
  int64_t scratch_bytes_ = 0;
  mutable std::mutex mu_;  // Guards sizes_ (Free may come from another thread than Allocate, e.g. a destructor).
  std::unordered_map<void*, int64_t> sizes_;
  MemoryCounter memory_;
};

}  // namespace ftd::cuda
