// The op API: one Backend interface (memory + one forward and one backward per op) that the CPU backend
// implements now and a CUDA backend later, and the registry that hands backends out by name ("cpu").
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kernels/bf16_weight.h"
#include "kernels/nf4_weight.h"

namespace ftd {

// Every pointer an op takes is a device pointer of the backend it is given to (host memory for "cpu"), made
// by that backend's Allocate; shapes are explicit. Tensors are dense and row-major; a comment gives each
// shape, e.g. (B, T, Hq, D). All float data is fp32 for now: bf16 activations and frozen weights (fp32
// accumulation) come with the CUDA backend, as a dtype field in these shape structs or separate *Bf16 entry
// points. Index data (token ids, targets, positions, segment ids) is int32.
//
// Gradient convention: gradients of parameters (dweight, dtable, LoRA dA/dB) are ACCUMULATED (+=) so that
// micro-batches add up; gradients of activations are OVERWRITTEN, except where a signature says otherwise
// (MatmulBackward's GradMode, LoraBackward's dx, which adds into the frozen path's dx).
//
// Threading: a Backend is shared process-wide; ops on one backend are issued from one thread at a time (the
// training loop). Ops complete in issue order; CopyToHost returns when the data is on the host.

enum class Transpose { kNo, kYes };
enum class GradMode { kOverwrite, kAccumulate };

// C = alpha * op(A) @ op(B) + beta * C for `batch` independent problems. op(A) is (m, k): A is stored (m, k),
// or (k, m) when trans_a. op(B) is (k, n): B is stored (k, n), or (n, k) when trans_b. C is (m, n).
// Batch item i reads A + i*stride_a, B + i*stride_b and writes C + i*stride_c (elements). A stride of 0 for A
// or B shares that operand across the batch (its gradient is then summed over the batch); C's stride must
// be >= m*n when batch > 1.
struct MatmulShape {
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  Transpose trans_a = Transpose::kNo;
  Transpose trans_b = Transpose::kNo;
  int64_t batch = 1;
  int64_t stride_a = 0;
  int64_t stride_b = 0;
  int64_t stride_c = 0;
};

// Causal grouped-query attention over (B, T, H, D) tensors; q_heads must be a multiple of kv_heads (query
// head h reads kv head h / (q_heads / kv_heads)). The scale is 1/sqrt(head_dim).
struct AttentionShape {
  int64_t batch = 0;
  int64_t seq = 0;
  int64_t q_heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
};

// Attention of Tq new queries over a KV cache (inference; forward only, no backward and no saved state). Query i
// of a batch row sits at absolute position p = kv_len - Tq + i and attends to cache rows 0..p (causal); GQA and
// the scale as AttentionShape. The cache holds kv_capacity rows per batch row, of which the first kv_len (the
// new tokens' keys and values included) are filled.
struct AttentionDecodeShape {
  int64_t batch = 0;
  int64_t q_len = 0;        // Tq, the new tokens; <= kv_len
  int64_t kv_len = 0;       // filled cache rows; <= kv_capacity
  int64_t kv_capacity = 0;  // rows allocated per batch row (the stride between batch rows of k and v)
  int64_t q_heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
};

// Rotary embedding of a (B, T, H, D) tensor with HF's rotate_half pairing (i, i + D/2). cos and sin are
// (table_len, D/2) (see rope_tables.h); row positions[b, t] is used, or row t when positions is null.
struct RopeShape {
  int64_t batch = 0;
  int64_t seq = 0;
  int64_t heads = 0;
  int64_t head_dim = 0;
  int64_t table_len = 0;
};

// y (rows, out) += scale * (x_d @ A^T) @ B^T with A (rank, in), B (out, rank): the PEFT LoRA branch.
struct LoraShape {
  int64_t rows = 0;
  int64_t in = 0;
  int64_t out = 0;
  int64_t rank = 0;
};

// torch.optim.AdamW (decoupled weight decay, bias correction). step is 1-based (torch's state["step"] after
// its increment).
struct AdamWConfig {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  int64_t step = 1;
};

// The op ignore index of cross-entropy targets (torch's ignore_index default): the row adds no loss, no grad.
inline constexpr int32_t kIgnoreIndex = -100;

// Calls and wall time per op, collected while set on a backend (Backend::set_op_profile): the per-op view of a
// training step (bench/train_step --profile). Keys are op names, with the shape for matmul and LoRA ("matmul
// 2048x512x16"). The CPU backend runs each op to completion, so its times are the ops' times; an asynchronous
// backend's calls return early, and its profile is only as good as its synchronisation.
struct OpProfile {
  struct Entry {
    int64_t calls = 0;
    double seconds = 0;
  };
  std::map<std::string, Entry> ops;
};

// Backend::MemoryStats.
struct DeviceMemoryStats {
  int64_t allocated_bytes = 0;
  int64_t peak_allocated_bytes = 0;
};

// Backend::PeakFlops: a spec-sheet figure (what the vendor states, or what the CPU's own description implies), not
// a measurement: "nominal" in every report that shows it.
struct NominalPeakFlops {
  double flops_per_second = 0;
  std::string basis;  // How it was derived, e.g. "2 threads x 2.60 GHz x 64 fp32 FLOP/cycle (avx512f)".
};

// One compute backend. The public methods check their arguments (INVALID_ARGUMENT naming the op and the bad
// shape) and then call the protected Do* virtual, whose default returns UNIMPLEMENTED "<op> not supported by
// <backend>": a backend that lacks an op says so instead of silently doing nothing. Lifetime: backends live
// in the registry for the life of the process.
class Backend {
 public:
  virtual ~Backend() = default;

  virtual absl::string_view name() const = 0;

  // Profile every op call into `profile` from now on (null: stop). Not thread-safe: set it between steps.
  void set_op_profile(OpProfile* profile) { op_profile_ = profile; }

  // ---- memory (bytes) ----
  virtual absl::StatusOr<void*> Allocate(int64_t bytes) = 0;
  virtual absl::Status Free(void* ptr) = 0;
  virtual absl::Status CopyToDevice(void* dst, const void* host_src, int64_t bytes) = 0;
  virtual absl::Status CopyToHost(void* host_dst, const void* src, int64_t bytes) = 0;
  virtual absl::Status Memset(void* dst, int value, int64_t bytes) = 0;
  // Bytes held through Allocate now, and the most held at once since the backend was made: a training run's device
  // memory peak (torch.cuda.max_memory_allocated's counterpart: the allocator's bytes, not the process's).
  // UNIMPLEMENTED "memory statistics not supported by <name>" where a backend does not count.
  virtual absl::StatusOr<DeviceMemoryStats> MemoryStats() const;

  // The device's nominal peak FLOP/s for the arithmetic this backend trains in, with how it was derived: the
  // denominator of MFU (model FLOPs utilisation). UNIMPLEMENTED where the backend cannot tell.
  virtual absl::StatusOr<NominalPeakFlops> PeakFlops() const;

  // Whether the pointers Allocate returns are host memory (the CPU backend's are): a caller handing them to code that
  // needs device memory (NCCL) or host memory (Gloo, the host's own reads) checks here. Default: device memory.
  virtual bool host_memory() const { return false; }
  // Waits until every op issued so far has finished: before another stream or library (a collective) reads what
  // they wrote. The default, for a backend whose ops finish before they return, does nothing.
  virtual absl::Status Synchronize() { return absl::OkStatus(); }

  // ---- matmul ----
  // a, b, c as MatmulShape says.
  absl::Status Matmul(const MatmulShape& s, float alpha, const float* a, const float* b, float beta, float* c);
  // Gradients of C = alpha * op(A) @ op(B) (+ beta * C, whose gradient the caller handles): da has A's stored
  // shape, db B's; either may be null (not wanted). `mode` says whether they are overwritten or added into.
  absl::Status MatmulBackward(const MatmulShape& s, float alpha, const float* a, const float* b, const float* dc,
                              float* da, float* db, GradMode mode);

  // ---- linear layer over a frozen NF4 weight (QLoRA's base weight; nf4_weight.h) ----
  // y (m, out) = alpha * x (m, in) @ W^T + beta * y, W (out, in) decoded from `w`: Matmul with trans_b on the
  // dequantised W, which a backend need not hold whole (the CPU one decodes a bounded tile at a time).
  absl::Status Nf4Matmul(const Nf4Weight& w, int64_t m, float alpha, const float* x, float beta, float* y);
  // The input gradient of that product: dx (m, in) = alpha * dy (m, out) @ W, overwritten or added into as `mode`
  // says (as MatmulBackward's da). W is frozen, so there is no weight gradient.
  absl::Status Nf4MatmulBackward(const Nf4Weight& w, int64_t m, float alpha, const float* dy, float* dx,
                                 GradMode mode);

  // ---- linear layer over a frozen bf16 weight (a LoRA run's base weight held in bf16; bf16_weight.h) ----
  // y (m, out) = alpha * x (m, in) @ W^T + beta * y, W widened exactly from `w`'s bf16, products summed in fp32. A
  // backend may also round x to bf16 (tensor cores multiply bf16 pairs): the CPU one does not, the CUDA one does, so
  // the op harness holds this op to a bf16-input threshold rather than fp32's.
  absl::Status Bf16Matmul(const Bf16Weight& w, int64_t m, float alpha, const float* x, float beta, float* y);
  // The input gradient: dx (m, in) = alpha * dy (m, out) @ W, overwritten or added into as `mode` says (dy may be
  // rounded to bf16 likewise). W is frozen: no weight gradient.
  absl::Status Bf16MatmulBackward(const Bf16Weight& w, int64_t m, float alpha, const float* dy, float* dx,
                                  GradMode mode);

  // ---- embedding ----
  // ids (n), table (vocab, dim) -> out (n, dim). ids must lie in [0, vocab).
  absl::Status EmbeddingForward(const int32_t* ids, const float* table, float* out, int64_t n, int64_t vocab,
                                int64_t dim);
  // dtable (vocab, dim) += scatter of dout (n, dim) by ids (n).
  absl::Status EmbeddingBackward(const int32_t* ids, const float* dout, float* dtable, int64_t n, int64_t vocab,
                                 int64_t dim);

  // ---- RMSNorm (HF LlamaRMSNorm in fp32) ----
  // x (rows, dim), weight (dim) -> y (rows, dim) = x * rstd * weight, rstd (rows) = 1/sqrt(mean(x^2) + eps).
  absl::Status RmsNormForward(const float* x, const float* weight, float eps, float* y, float* rstd, int64_t rows,
                              int64_t dim);
  // dy (rows, dim) -> dx (rows, dim) overwritten; dweight (dim) accumulated, or null when the weight is frozen.
  // rstd and eps are the forward's (a backend may use either: the CPU one recomputes rstd in double).
  absl::Status RmsNormBackward(const float* x, const float* weight, const float* rstd, float eps, const float* dy,
                               float* dx, float* dweight, int64_t rows, int64_t dim);

  // ---- RoPE ----
  // x (B, T, H, D) -> out (B, T, H, D); out may equal x. cos, sin (table_len, D/2); positions (B, T) or null.
  absl::Status RopeForward(const RopeShape& s, const float* x, const float* cos, const float* sin,
                           const int32_t* positions, float* out);
  // dout (B, T, H, D) -> dx (B, T, H, D), the rotation by the negative angle; dx may equal dout.
  absl::Status RopeBackward(const RopeShape& s, const float* dout, const float* cos, const float* sin,
                            const int32_t* positions, float* dx);

  // ---- causal GQA attention ----
  // Floats of the `saved` buffer AttentionForward fills and AttentionBackward reads. Backend-defined: the CPU
  // backend keeps the softmax probabilities, B * Hq * T * T floats (T=256, Hq=8, B=8: 16 MiB per layer); a
  // flash-attention backend keeps the log-sum-exp, B * Hq * T.
  virtual int64_t AttentionSavedElements(const AttentionShape& s) const;
  // q (B, T, Hq, D), k and v (B, T, Hkv, D), segment_ids (B, T) or null -> out (B, T, Hq, D), saved.
  // With segment_ids, token t attends to token u <= t only when segment_ids[b, t] == segment_ids[b, u]
  // (packed sequences do not see each other: sample packing, with RoPE's per-token positions restarting per
  // document); null means one sequence per batch row, computed exactly as before segments existed.
  absl::Status AttentionForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                                const int32_t* segment_ids, float* out, float* saved);
  // dout (B, T, Hq, D) -> dq (B, T, Hq, D), dk, dv (B, T, Hkv, D), all overwritten; kv gradients are summed over
  // the query heads of their group. out is the forward's output.
  absl::Status AttentionBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                                 const int32_t* segment_ids, const float* out, const float* saved,
                                 const float* dout, float* dq, float* dk, float* dv);

  // ---- attention over a KV cache (decoding) ----
  // q (B, Tq, Hq, D), k and v (B, kv_capacity, Hkv, D) of which rows [0, kv_len) are read -> out (B, Tq, Hq, D).
  // Forward only: generation needs no gradient.
  absl::Status AttentionDecodeForward(const AttentionDecodeShape& s, const float* q, const float* k,
                                      const float* v, float* out);

  // ---- SwiGLU ----
  // gate, up (n) -> h (n) = silu(gate) * up; n = rows * intermediate.
  absl::Status SwiGluForward(const float* gate, const float* up, float* h, int64_t n);
  // dh (n) -> dgate, dup (n), overwritten.
  absl::Status SwiGluBackward(const float* gate, const float* up, const float* dh, float* dgate, float* dup,
                              int64_t n);

  // ---- softmax + cross-entropy over the vocabulary ----
  // logits (rows, vocab), targets (rows) in [0, vocab) or kIgnoreIndex -> losses (rows) = lse - logit[target]
  // (0 for ignored rows), lse (rows) = log-sum-exp of the row (saved for the backward).
  absl::Status CrossEntropyForward(const float* logits, const int32_t* targets, float* losses, float* lse,
                                   int64_t rows, int64_t vocab);
  // dlogits (rows, vocab) = (softmax(logits) - onehot(target)) * grad_scale, 0 on ignored rows: the gradient of
  // grad_scale * sum(losses). dlogits may equal logits (in place, saving a (rows, vocab) buffer).
  absl::Status CrossEntropyBackward(const float* logits, const int32_t* targets, const float* lse,
                                    float grad_scale, float* dlogits, int64_t rows, int64_t vocab);

  // ---- LoRA ----
  // x_d (rows, in) is the dropped-out input, x * keep_mask with keep_mask's values 0 or 1/(1-p) (made by the
  // caller, e.g. with Mul); with no dropout it is x itself. a (rank, in), b (out, rank).
  // xa (rows, rank) = x_d @ A^T is saved for the backward; y (rows, out) += scale * xa @ B^T.
  absl::Status LoraForward(const LoraShape& s, const float* x_d, const float* a, const float* b, float scale,
                           float* xa, float* y);
  // dy (rows, out) -> da (rank, in) +=, db (out, rank) +=, and dx (rows, in) += keep_mask * (d x_d) when dx is
  // not null; keep_mask (rows, in) is the forward's mask, or null when there was no dropout.
  absl::Status LoraBackward(const LoraShape& s, const float* x_d, const float* keep_mask, const float* a,
                            const float* b, const float* xa, float scale, const float* dy, float* da, float* db,
                            float* dx);

  // ---- dropout ----
  // mask (n) of nn.Dropout(p) in training: 0 with probability p, else 1/(1-p) (fp32), so x * mask (Mul) is the
  // dropped-out x. Counter-based, so the mask is a pure function of (seed, stream, p, i), the same on every backend
  // and for any n (a longer mask extends a shorter one): element i is dropped iff word i % 4 of
  // Philox4x32-10(counter {lo(i/4), hi(i/4), lo(stream), hi(stream)}, key {lo(seed), hi(seed)}) (philox.h) is
  // below round(p * 2^32). Distinct streams of one seed are independent masks. p must be in [0, 1).
  absl::Status DropoutMask(uint64_t seed, uint64_t stream, float p, float* mask, int64_t n);

  // ---- optimiser and global grad norm ----
  // One AdamW step in place over param, m, v (n) with grad (n).
  absl::Status AdamWStep(const AdamWConfig& config, float* param, const float* grad, float* m, float* v,
                         int64_t n);
  // sum_sq[0] += sum(x^2) over x (n), accumulated in double inside the op; sum_sq is a device float.
  absl::Status SumSquares(const float* x, int64_t n, float* sum_sq);

  // ---- elementwise (their backward passes are themselves these ops) ----
  absl::Status Add(const float* a, const float* b, float* out, int64_t n);  // out = a + b
  absl::Status AddInto(float* dst, const float* src, int64_t n);            // dst += src
  absl::Status Mul(const float* a, const float* b, float* out, int64_t n);  // out = a * b
  absl::Status Scale(float* x, float alpha, int64_t n);                     // x *= alpha
  absl::Status Copy(float* dst, const float* src, int64_t n);               // dst = src
  absl::Status Fill(float* x, float value, int64_t n);                      // x = value

 protected:
  absl::Status NotSupported(absl::string_view op) const;

  virtual absl::Status DoMatmul(const MatmulShape& s, float alpha, const float* a, const float* b, float beta,
                                float* c);
  virtual absl::Status DoMatmulBackward(const MatmulShape& s, float alpha, const float* a, const float* b,
                                        const float* dc, float* da, float* db, GradMode mode);
  virtual absl::Status DoNf4Matmul(const Nf4Weight& w, int64_t m, float alpha, const float* x, float beta,
                                   float* y);
  virtual absl::Status DoNf4MatmulBackward(const Nf4Weight& w, int64_t m, float alpha, const float* dy, float* dx,
                                           GradMode mode);
  virtual absl::Status DoBf16Matmul(const Bf16Weight& w, int64_t m, float alpha, const float* x, float beta,
                                    float* y);
  virtual absl::Status DoBf16MatmulBackward(const Bf16Weight& w, int64_t m, float alpha, const float* dy,
                                            float* dx, GradMode mode);
  virtual absl::Status DoEmbeddingForward(const int32_t* ids, const float* table, float* out, int64_t n,
                                          int64_t vocab, int64_t dim);
  virtual absl::Status DoEmbeddingBackward(const int32_t* ids, const float* dout, float* dtable, int64_t n,
                                           int64_t vocab, int64_t dim);
  virtual absl::Status DoRmsNormForward(const float* x, const float* weight, float eps, float* y, float* rstd,
                                        int64_t rows, int64_t dim);
  virtual absl::Status DoRmsNormBackward(const float* x, const float* weight, const float* rstd, float eps,
                                         const float* dy, float* dx, float* dweight, int64_t rows, int64_t dim);
  virtual absl::Status DoRopeForward(const RopeShape& s, const float* x, const float* cos, const float* sin,
                                     const int32_t* positions, float* out);
  virtual absl::Status DoRopeBackward(const RopeShape& s, const float* dout, const float* cos, const float* sin,
                                      const int32_t* positions, float* dx);
  virtual absl::Status DoAttentionForward(const AttentionShape& s, const float* q, const float* k,
                                          const float* v, const int32_t* segment_ids, float* out, float* saved);
  virtual absl::Status DoAttentionBackward(const AttentionShape& s, const float* q, const float* k,
                                           const float* v, const int32_t* segment_ids, const float* out,
                                           const float* saved, const float* dout, float* dq, float* dk,
                                           float* dv);
  virtual absl::Status DoAttentionDecodeForward(const AttentionDecodeShape& s, const float* q, const float* k,
                                                const float* v, float* out);
  virtual absl::Status DoSwiGluForward(const float* gate, const float* up, float* h, int64_t n);
  virtual absl::Status DoSwiGluBackward(const float* gate, const float* up, const float* dh, float* dgate,
                                        float* dup, int64_t n);
  virtual absl::Status DoCrossEntropyForward(const float* logits, const int32_t* targets, float* losses,
                                             float* lse, int64_t rows, int64_t vocab);
  virtual absl::Status DoCrossEntropyBackward(const float* logits, const int32_t* targets, const float* lse,
                                              float grad_scale, float* dlogits, int64_t rows, int64_t vocab);
  virtual absl::Status DoLoraForward(const LoraShape& s, const float* x_d, const float* a, const float* b,
                                     float scale, float* xa, float* y);
  virtual absl::Status DoLoraBackward(const LoraShape& s, const float* x_d, const float* keep_mask,
                                      const float* a, const float* b, const float* xa, float scale,
                                      const float* dy, float* da, float* db, float* dx);
  // threshold = round(p * 2^32) and keep = 1/(1-p), computed once in DropoutMask so all backends agree.
  virtual absl::Status DoDropoutMask(uint64_t seed, uint64_t stream, uint32_t threshold, float keep, float* mask,
                                     int64_t n);
  virtual absl::Status DoAdamWStep(const AdamWConfig& config, float* param, const float* grad, float* m, float* v,
                                   int64_t n);
  virtual absl::Status DoSumSquares(const float* x, int64_t n, float* sum_sq);
  virtual absl::Status DoAdd(const float* a, const float* b, float* out, int64_t n);
  virtual absl::Status DoAddInto(float* dst, const float* src, int64_t n);
  virtual absl::Status DoMul(const float* a, const float* b, float* out, int64_t n);
  virtual absl::Status DoScale(float* x, float alpha, int64_t n);
  virtual absl::Status DoCopy(float* dst, const float* src, int64_t n);
  virtual absl::Status DoFill(float* x, float value, int64_t n);

 private:
  // Runs `run` (a Do* call), timing it under `op` (and `detail()`, unless nullptr) while a profile is set.
  template <typename Op, typename Detail = std::nullptr_t>
  absl::Status Profiled(absl::string_view op, Op&& run, Detail&& detail = nullptr);

  OpProfile* op_profile_ = nullptr;
};

// The backend registered under `name`: "cpu"; "cuda" where the build has CUDA and the machine a device (made on
// first request: FAILED_PRECONDITION saying why where there is none). NOT_FOUND, listing the registered names, for
// any other name.
absl::StatusOr<Backend*> GetBackend(absl::string_view name);

// Names of all registered backends, "cpu" first ("cuda" where there is one: asking makes it).
std::vector<std::string> RegisteredBackends();

// Adds a backend under its name() (tests, out-of-tree backends). ALREADY_EXISTS if the name is taken.
absl::Status RegisterBackend(std::unique_ptr<Backend> backend);

}  // namespace ftd
