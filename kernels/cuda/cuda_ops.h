// The CUDA implementations of the ops, one family per file in kernels/cuda/, named in parallel with the CPU ones
// (RmsNormForwardCpu / RmsNormForwardCuda). Arguments are already checked by Backend (kernels.h); shapes as kernels.h
// documents them. Every pointer is device memory; every function enqueues its work on ctx.stream and returns
// without waiting (an error of a launched kernel surfaces at the next synchronising call: a copy to the host).
// fp32 throughout, accumulating in fp32 (double where the CPU reference does and it costs little); products through
// cuBLAS with CUBLAS_COMPUTE_32F (no TF32), so the op harness holds the CUDA ops to the CPU's fp32 thresholds.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/kernels.h"

namespace ftd::cuda {

// What every op runs with: the backend's stream, its cuBLAS handle (bound to that stream) and a scratch buffer
// the ops may use between their entry and return (never across calls; grown by the backend on request).
struct CudaContext {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  // Device scratch of at least `bytes` bytes, valid until the next call of `scratch` (a caller that needs two
  // regions asks once for both). RESOURCE_EXHAUSTED when the device is out of memory.
  absl::StatusOr<void*> (*scratch_fn)(void* owner, int64_t bytes) = nullptr;
  void* scratch_owner = nullptr;
  absl::StatusOr<void*> scratch(int64_t bytes) const { return scratch_fn(scratch_owner, bytes); }
};

// cuBLAS's status as absl::Status (INTERNAL naming the call; RESOURCE_EXHAUSTED for CUBLAS_STATUS_ALLOC_FAILED).
absl::Status FromCublas(cublasStatus_t status, const char* what);

// The launch's error (cudaGetLastError) as a status naming the kernel.
absl::Status LaunchStatus(const char* kernel);

// matmul.cu (cuBLAS sgemm, strided-batched when batch > 1; row-major as kernels.h, mapped onto cuBLAS's
// column-major by computing C^T = B^T A^T)
absl::Status MatmulCuda(const CudaContext& ctx, const MatmulShape& s, float alpha, const float* a, const float* b,
                        float beta, float* c);
absl::Status MatmulBackwardCuda(const CudaContext& ctx, const MatmulShape& s, float alpha, const float* a,
                                const float* b, const float* dc, float* da, float* db, GradMode mode);

// lora.cu (two sgemms each way, the dropout mask applied by an elementwise kernel)
absl::Status LoraForwardCuda(const CudaContext& ctx, const LoraShape& s, const float* x_d, const float* a,
                             const float* b, float scale, float* xa, float* y);
absl::Status LoraBackwardCuda(const CudaContext& ctx, const LoraShape& s, const float* x_d, const float* keep_mask,
                              const float* a, const float* b, const float* xa, float scale, const float* dy,
                              float* da, float* db, float* dx);

// nf4_matmul.cu (W decoded into scratch a panel at a time, each panel an sgemm)
absl::Status Nf4MatmulCuda(const CudaContext& ctx, const Nf4Weight& w, int64_t m, float alpha, const float* x,
                           float beta, float* y);
absl::Status Nf4MatmulBackwardCuda(const CudaContext& ctx, const Nf4Weight& w, int64_t m, float alpha,
                                   const float* dy, float* dx, GradMode mode);

// bf16_matmul.cu (x or dy rounded to bf16 into scratch, then a bf16 tensor-core gemm with fp32 sums; W used as stored)
absl::Status Bf16MatmulCuda(const CudaContext& ctx, const Bf16Weight& w, int64_t m, float alpha, const float* x,
                            float beta, float* y);
absl::Status Bf16MatmulBackwardCuda(const CudaContext& ctx, const Bf16Weight& w, int64_t m, float alpha,
                                    const float* dy, float* dx, GradMode mode);

// embedding.cu (the backward scatters with atomicAdd; ids out of range are reported by the CPU-side check only)
absl::Status EmbeddingForwardCuda(const CudaContext& ctx, const int32_t* ids, const float* table, float* out,
                                  int64_t n, int64_t vocab, int64_t dim);
absl::Status EmbeddingBackwardCuda(const CudaContext& ctx, const int32_t* ids, const float* dout, float* dtable,
                                   int64_t n, int64_t vocab, int64_t dim);

// rmsnorm.cu
absl::Status RmsNormForwardCuda(const CudaContext& ctx, const float* x, const float* weight, float eps, float* y,
                                float* rstd, int64_t rows, int64_t dim);
absl::Status RmsNormBackwardCuda(const CudaContext& ctx, const float* x, const float* weight, const float* rstd,
                                 float eps, const float* dy, float* dx, float* dweight, int64_t rows, int64_t dim);

// rope.cu
absl::Status RopeForwardCuda(const CudaContext& ctx, const RopeShape& s, const float* x, const float* cos,
                             const float* sin, const int32_t* positions, float* out);
absl::Status RopeBackwardCuda(const CudaContext& ctx, const RopeShape& s, const float* dout, const float* cos,
                              const float* sin, const int32_t* positions, float* dx);

// attention.cu (saved = the softmax probabilities, B * Hq * T * T floats, as the CPU backend keeps them)
absl::Status AttentionForwardCuda(const CudaContext& ctx, const AttentionShape& s, const float* q, const float* k,
                                  const float* v, const int32_t* segment_ids, float* out, float* probs);
absl::Status AttentionBackwardCuda(const CudaContext& ctx, const AttentionShape& s, const float* q, const float* k,
                                   const float* v, const int32_t* segment_ids, const float* out, const float* probs,
                                   const float* dout, float* dq, float* dk, float* dv);
absl::Status AttentionDecodeForwardCuda(const CudaContext& ctx, const AttentionDecodeShape& s, const float* q,
                                        const float* k, const float* v, float* out);

// swiglu.cu
absl::Status SwiGluForwardCuda(const CudaContext& ctx, const float* gate, const float* up, float* h, int64_t n);
absl::Status SwiGluBackwardCuda(const CudaContext& ctx, const float* gate, const float* up, const float* dh,
                                float* dgate, float* dup, int64_t n);

// cross_entropy.cu (one block per row; the (rows, vocab) probabilities are never stored apart from dlogits)
absl::Status CrossEntropyForwardCuda(const CudaContext& ctx, const float* logits, const int32_t* targets,
                                     float* losses, float* lse, int64_t rows, int64_t vocab);
absl::Status CrossEntropyBackwardCuda(const CudaContext& ctx, const float* logits, const int32_t* targets,
                                      const float* lse, float grad_scale, float* dlogits, int64_t rows,
                                      int64_t vocab);

// dropout.cu (Philox4x32-10 as kernels/philox.h, so the mask equals the CPU's bit for bit)
absl::Status DropoutMaskCuda(const CudaContext& ctx, uint64_t seed, uint64_t stream, uint32_t threshold, float keep,
                             float* mask, int64_t n);

// adamw.cu
absl::Status AdamWStepCuda(const CudaContext& ctx, const AdamWConfig& config, float* param, const float* grad,
                           float* m, float* v, int64_t n);
absl::Status SumSquaresCuda(const CudaContext& ctx, const float* x, int64_t n, float* sum_sq);

// elementwise.cu
absl::Status AddCuda(const CudaContext& ctx, const float* a, const float* b, float* out, int64_t n);
absl::Status AddIntoCuda(const CudaContext& ctx, float* dst, const float* src, int64_t n);
absl::Status MulCuda(const CudaContext& ctx, const float* a, const float* b, float* out, int64_t n);
absl::Status ScaleCuda(const CudaContext& ctx, float* x, float alpha, int64_t n);
absl::Status CopyCuda(const CudaContext& ctx, float* dst, const float* src, int64_t n);
absl::Status FillCuda(const CudaContext& ctx, float* x, float value, int64_t n);

}  // namespace ftd::cuda
