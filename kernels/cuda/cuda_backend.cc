// CudaBackend: device memory with its counters, the stream and cuBLAS handle, the scratch buffer, and the dispatch
// of each op to its *Cuda function.
#include "kernels/cuda/cuda_backend.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda_backend_factory.h"

namespace ftd::cuda {

absl::StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create() {
  int count = 0;
  if (const cudaError_t error = cudaGetDeviceCount(&count); error != cudaSuccess || count == 0) {
    cudaGetLastError();  // Leave the runtime's error slot clean for the caller.
    return absl::FailedPreconditionError(
        absl::StrCat("no usable CUDA device (", error != cudaSuccess ? cudaGetErrorString(error) : "none found", ")"));
  }
  std::unique_ptr<CudaBackend> backend(new CudaBackend());
  CudaContext& ctx = backend->ctx_;
  CUDA_RETURN_IF_ERROR(cudaGetDevice(&ctx.device));
  CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking));
  RETURN_IF_ERROR(FromCublas(cublasCreate(&ctx.blas), "cublasCreate"));
  RETURN_IF_ERROR(FromCublas(cublasSetStream(ctx.blas, ctx.stream), "cublasSetStream"));
  // Plain fp32 products: no TF32 tensor-op shortcut, so the results hold the CPU backend's fp32 thresholds.
  RETURN_IF_ERROR(FromCublas(cublasSetMathMode(ctx.blas, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode"));
  ctx.scratch_fn = &CudaBackend::Scratch;
  ctx.scratch_owner = backend.get();
  return backend;
}

CudaBackend::~CudaBackend() {
  if (ctx_.stream != nullptr) cudaStreamSynchronize(ctx_.stream);
  if (scratch_ != nullptr) Free(scratch_).IgnoreError();
  if (ctx_.blas != nullptr) cublasDestroy(ctx_.blas);
  if (ctx_.stream != nullptr) cudaStreamDestroy(ctx_.stream);
}

absl::StatusOr<void*> CudaBackend::Allocate(int64_t bytes) {
  if (bytes < 0) return absl::InvalidArgumentError(absl::StrCat("cuda Allocate: bytes=", bytes, " < 0"));
  const int64_t held = bytes == 0 ? 256 : (bytes + 255) / 256 * 256;  // cudaMalloc's own granularity, at least.
  void* p = nullptr;
  const cudaError_t error = cudaMalloc(&p, static_cast<size_t>(held));
  if (error != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    return absl::Status(error == cudaErrorMemoryAllocation ? absl::StatusCode::kResourceExhausted
                                                           : absl::StatusCode::kInternal,
                        absl::StrFormat("cuda Allocate: %d bytes on device %d: %s (%d of %d bytes free)", bytes,
                                        ctx_.device, cudaGetErrorString(error), free_bytes, total_bytes));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    sizes_[p] = held;
  }
  memory_.Allocated(held);
  return p;
}

absl::Status CudaBackend::Free(void* ptr) {
  if (ptr == nullptr) return absl::OkStatus();
  int64_t held = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sizes_.find(ptr);
    if (it == sizes_.end()) return absl::InvalidArgumentError("cuda Free: not a pointer this backend allocated");
    held = it->second;
    sizes_.erase(it);
  }
  memory_.Freed(held);
  CUDA_RETURN_IF_ERROR(cudaFree(ptr));  // Waits for the work queued before it, which may still read ptr.
  return absl::OkStatus();
}

absl::Status CudaBackend::CopyToDevice(void* dst, const void* host_src, int64_t bytes) {
  if (bytes <= 0) return absl::OkStatus();
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, host_src, static_cast<size_t>(bytes), cudaMemcpyHostToDevice,
                                       ctx_.stream));
  // The caller may reuse its host buffer as soon as this returns.
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx_.stream));
  return absl::OkStatus();
}

absl::Status CudaBackend::CopyToHost(void* host_dst, const void* src, int64_t bytes) {
  if (bytes <= 0) return absl::OkStatus();
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host_dst, src, static_cast<size_t>(bytes), cudaMemcpyDeviceToHost,
                                       ctx_.stream));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx_.stream));
  return absl::OkStatus();
}

absl::Status CudaBackend::Memset(void* dst, int value, int64_t bytes) {
  if (bytes <= 0) return absl::OkStatus();
  CUDA_RETURN_IF_ERROR(cudaMemsetAsync(dst, value, static_cast<size_t>(bytes), ctx_.stream));
  return absl::OkStatus();
}

absl::StatusOr<DeviceMemoryStats> CudaBackend::MemoryStats() const {
  return memory_.Stats();
}

absl::StatusOr<NominalPeakFlops> CudaBackend::PeakFlops() const {
  int sms = 0, khz = 0, major = 0, minor = 0;
  CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, ctx_.device));
  CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, ctx_.device));
  CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, ctx_.device));
  CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, ctx_.device));
  if (major < 8) return absl::UnimplementedError(absl::StrCat("nominal peak of sm_", major, minor, " not known"));
  const int lanes = major == 8 && minor == 0 ? 64 : 128;
  NominalPeakFlops peak;
  peak.flops_per_second = static_cast<double>(sms) * khz * 1e3 * lanes * 2;
  peak.basis = absl::StrFormat("%d SMs x %.2f GHz x %d fp32 lanes x 2 (sm_%d%d, fp32 without tensor cores)", sms,
                               khz / 1e6, lanes, major, minor);
  return peak;
}

absl::Status CudaBackend::Synchronize() {
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx_.stream));
  return absl::OkStatus();
}

absl::StatusOr<void*> CudaBackend::Scratch(void* self, int64_t bytes) {
  auto* backend = static_cast<CudaBackend*>(self);
  if (bytes <= backend->scratch_bytes_) return backend->scratch_;
  if (backend->scratch_ != nullptr) {
    RETURN_IF_ERROR(backend->Free(backend->scratch_));  // cudaFree waits for the ops still reading it.
    backend->scratch_ = nullptr;
    backend->scratch_bytes_ = 0;
  }
  ASSIGN_OR_RETURN(backend->scratch_, backend->Allocate(bytes));
  backend->scratch_bytes_ = bytes;
  return backend->scratch_;
}

absl::Status CudaBackend::DoMatmul(const MatmulShape& s, float alpha, const float* a, const float* b, float beta,
                                   float* c) {
  return MatmulCuda(ctx_, s, alpha, a, b, beta, c);
}
absl::Status CudaBackend::DoMatmulBackward(const MatmulShape& s, float alpha, const float* a, const float* b,
                                           const float* dc, float* da, float* db, GradMode mode) {
  return MatmulBackwardCuda(ctx_, s, alpha, a, b, dc, da, db, mode);
}
absl::Status CudaBackend::DoNf4Matmul(const Nf4Weight& w, int64_t m, float alpha, const float* x, float beta,
                                      float* y) {
  return Nf4MatmulCuda(ctx_, w, m, alpha, x, beta, y);
}
absl::Status CudaBackend::DoNf4MatmulBackward(const Nf4Weight& w, int64_t m, float alpha, const float* dy,
                                              float* dx, GradMode mode) {
  return Nf4MatmulBackwardCuda(ctx_, w, m, alpha, dy, dx, mode);
}
absl::Status CudaBackend::DoBf16Matmul(const Bf16Weight& w, int64_t m, float alpha, const float* x, float beta,
                                       float* y) {
  return Bf16MatmulCuda(ctx_, w, m, alpha, x, beta, y);
}
absl::Status CudaBackend::DoBf16MatmulBackward(const Bf16Weight& w, int64_t m, float alpha, const float* dy,
                                               float* dx, GradMode mode) {
  return Bf16MatmulBackwardCuda(ctx_, w, m, alpha, dy, dx, mode);
}
absl::Status CudaBackend::DoEmbeddingForward(const int32_t* ids, const float* table, float* out, int64_t n,
                                             int64_t vocab, int64_t dim) {
  return EmbeddingForwardCuda(ctx_, ids, table, out, n, vocab, dim);
}
absl::Status CudaBackend::DoEmbeddingBackward(const int32_t* ids, const float* dout, float* dtable, int64_t n,
                                              int64_t vocab, int64_t dim) {
  return EmbeddingBackwardCuda(ctx_, ids, dout, dtable, n, vocab, dim);
}
absl::Status CudaBackend::DoRmsNormForward(const float* x, const float* weight, float eps, float* y, float* rstd,
                                           int64_t rows, int64_t dim) {
  return RmsNormForwardCuda(ctx_, x, weight, eps, y, rstd, rows, dim);
}
absl::Status CudaBackend::DoRmsNormBackward(const float* x, const float* weight, const float* rstd, float eps,
                                            const float* dy, float* dx, float* dweight, int64_t rows, int64_t dim) {
  return RmsNormBackwardCuda(ctx_, x, weight, rstd, eps, dy, dx, dweight, rows, dim);
}
absl::Status CudaBackend::DoRopeForward(const RopeShape& s, const float* x, const float* cos, const float* sin,
                                        const int32_t* positions, float* out) {
  return RopeForwardCuda(ctx_, s, x, cos, sin, positions, out);
}
absl::Status CudaBackend::DoRopeBackward(const RopeShape& s, const float* dout, const float* cos, const float* sin,
                                         const int32_t* positions, float* dx) {
  return RopeBackwardCuda(ctx_, s, dout, cos, sin, positions, dx);
}
absl::Status CudaBackend::DoAttentionForward(const AttentionShape& s, const float* q, const float* k,
                                             const float* v, const int32_t* segment_ids, float* out, float* saved) {
  return AttentionForwardCuda(ctx_, s, q, k, v, segment_ids, out, saved);
}
absl::Status CudaBackend::DoAttentionBackward(const AttentionShape& s, const float* q, const float* k,
                                              const float* v, const int32_t* segment_ids, const float* out,
                                              const float* saved, const float* dout, float* dq, float* dk,
                                              float* dv) {
  return AttentionBackwardCuda(ctx_, s, q, k, v, segment_ids, out, saved, dout, dq, dk, dv);
}
absl::Status CudaBackend::DoAttentionDecodeForward(const AttentionDecodeShape& s, const float* q, const float* k,
                                                   const float* v, float* out) {
  return AttentionDecodeForwardCuda(ctx_, s, q, k, v, out);
}
absl::Status CudaBackend::DoSwiGluForward(const float* gate, const float* up, float* h, int64_t n) {
  return SwiGluForwardCuda(ctx_, gate, up, h, n);
}
absl::Status CudaBackend::DoSwiGluBackward(const float* gate, const float* up, const float* dh, float* dgate,
                                           float* dup, int64_t n) {
  return SwiGluBackwardCuda(ctx_, gate, up, dh, dgate, dup, n);
}
absl::Status CudaBackend::DoCrossEntropyForward(const float* logits, const int32_t* targets, float* losses,
                                                float* lse, int64_t rows, int64_t vocab) {
  return CrossEntropyForwardCuda(ctx_, logits, targets, losses, lse, rows, vocab);
}
absl::Status CudaBackend::DoCrossEntropyBackward(const float* logits, const int32_t* targets, const float* lse,
                                                 float grad_scale, float* dlogits, int64_t rows, int64_t vocab) {
  return CrossEntropyBackwardCuda(ctx_, logits, targets, lse, grad_scale, dlogits, rows, vocab);
}
absl::Status CudaBackend::DoLoraForward(const LoraShape& s, const float* x_d, const float* a, const float* b,
                                        float scale, float* xa, float* y) {
  return LoraForwardCuda(ctx_, s, x_d, a, b, scale, xa, y);
}
absl::Status CudaBackend::DoLoraBackward(const LoraShape& s, const float* x_d, const float* keep_mask,
                                         const float* a, const float* b, const float* xa, float scale,
                                         const float* dy, float* da, float* db, float* dx) {
  return LoraBackwardCuda(ctx_, s, x_d, keep_mask, a, b, xa, scale, dy, da, db, dx);
}
absl::Status CudaBackend::DoDropoutMask(uint64_t seed, uint64_t stream, uint32_t threshold, float keep,
                                        float* mask, int64_t n) {
  return DropoutMaskCuda(ctx_, seed, stream, threshold, keep, mask, n);
}
absl::Status CudaBackend::DoAdamWStep(const AdamWConfig& config, float* param, const float* grad, float* m,
                                      float* v, int64_t n) {
  return AdamWStepCuda(ctx_, config, param, grad, m, v, n);
}
absl::Status CudaBackend::DoSumSquares(const float* x, int64_t n, float* sum_sq) {
  return SumSquaresCuda(ctx_, x, n, sum_sq);
}
absl::Status CudaBackend::DoAdd(const float* a, const float* b, float* out, int64_t n) {
  return AddCuda(ctx_, a, b, out, n);
}
absl::Status CudaBackend::DoAddInto(float* dst, const float* src, int64_t n) { return AddIntoCuda(ctx_, dst, src, n); }
absl::Status CudaBackend::DoMul(const float* a, const float* b, float* out, int64_t n) {
  return MulCuda(ctx_, a, b, out, n);
}
absl::Status CudaBackend::DoScale(float* x, float alpha, int64_t n) { return ScaleCuda(ctx_, x, alpha, n); }
absl::Status CudaBackend::DoCopy(float* dst, const float* src, int64_t n) { return CopyCuda(ctx_, dst, src, n); }
absl::Status CudaBackend::DoFill(float* x, float value, int64_t n) { return FillCuda(ctx_, x, value, n); }

}  // namespace ftd::cuda

namespace ftd {

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend() {
  ASSIGN_OR_RETURN(std::unique_ptr<cuda::CudaBackend> backend, cuda::CudaBackend::Create());
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace ftd
