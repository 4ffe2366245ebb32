// The CPU implementations of the ops, one family per file in kernels/cpu/, named in parallel with the CUDA ones
// to come (RmsNormForwardCpu / RmsNormForwardCuda). Arguments are already checked by Backend (kernels.h);
// these only check what needs the data itself (token ids in range). Shapes as kernels.h documents them.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/kernels.h"

namespace ftd::cpu {

// matmul.cc (OpenBLAS sgemm)
absl::Status MatmulCpu(const MatmulShape& s, float alpha, const float* a, const float* b, float beta, float* c);
absl::Status MatmulBackwardCpu(const MatmulShape& s, float alpha, const float* a, const float* b, const float* dc,
                               float* da, float* db, GradMode mode);

// nf4_matmul.cc and bf16_matmul.cc (W decoded a tile at a time, each tile an sgemm: frozen_matmul.h). tile_floats
// bounds the decoded-weight scratch (floats; at least one row of W for the forward, one column for the backward); a
// test passes a small one to force many tiles (for NF4, with boundaries inside a block and a byte).
inline constexpr int64_t kNf4TileFloats = int64_t{1} << 20;  // 4 MiB
absl::Status Nf4MatmulCpu(const Nf4Weight& w, int64_t m, float alpha, const float* x, float beta, float* y,
                          int64_t tile_floats = kNf4TileFloats);
absl::Status Nf4MatmulBackwardCpu(const Nf4Weight& w, int64_t m, float alpha, const float* dy, float* dx,
                                  GradMode mode, int64_t tile_floats = kNf4TileFloats);
// x and dy stay fp32 here (exact widening of W, then sgemm); kBf16TileFloats is NF4's bound, the same scratch.
inline constexpr int64_t kBf16TileFloats = kNf4TileFloats;
absl::Status Bf16MatmulCpu(const Bf16Weight& w, int64_t m, float alpha, const float* x, float beta, float* y,
                           int64_t tile_floats = kBf16TileFloats);
absl::Status Bf16MatmulBackwardCpu(const Bf16Weight& w, int64_t m, float alpha, const float* dy, float* dx,
                                   GradMode mode, int64_t tile_floats = kBf16TileFloats);

// embedding.cc
absl::Status EmbeddingForwardCpu(const int32_t* ids, const float* table, float* out, int64_t n, int64_t vocab,
                                 int64_t dim);
absl::Status EmbeddingBackwardCpu(const int32_t* ids, const float* dout, float* dtable, int64_t n, int64_t vocab,
                                  int64_t dim);

// rmsnorm.cc
absl::Status RmsNormForwardCpu(const float* x, const float* weight, float eps, float* y, float* rstd, int64_t rows,
                               int64_t dim);
absl::Status RmsNormBackwardCpu(const float* x, const float* weight, const float* rstd, float eps, const float* dy,
                                float* dx, float* dweight, int64_t rows, int64_t dim);

// rope.cc
absl::Status RopeForwardCpu(const RopeShape& s, const float* x, const float* cos, const float* sin,
                            const int32_t* positions, float* out);
absl::Status RopeBackwardCpu(const RopeShape& s, const float* dout, const float* cos, const float* sin,
                             const int32_t* positions, float* dx);

// attention.cc
absl::Status AttentionForwardCpu(const AttentionShape& s, const float* q, const float* k, const float* v,
                                 const int32_t* segment_ids, float* out, float* probs);
absl::Status AttentionBackwardCpu(const AttentionShape& s, const float* q, const float* k, const float* v,
                                  const int32_t* segment_ids, const float* out, const float* probs,
                                  const float* dout, float* dq, float* dk, float* dv);

// attention_decode.cc (forward only). kAuto takes kBlocked (causal blocks of sgemms, as AttentionForwardCpu) for a
// prefill of many new queries and kRows (one loop per query row over its visible cache) for a step of a few; the
// others force a path, so that a test can compare the two on the same inputs.
enum class AttentionDecodePath { kAuto, kRows, kBlocked };
absl::Status AttentionDecodeForwardCpu(const AttentionDecodeShape& s, const float* q, const float* k,
                                       const float* v, float* out,
                                       AttentionDecodePath path = AttentionDecodePath::kAuto);

// swiglu.cc
absl::Status SwiGluForwardCpu(const float* gate, const float* up, float* h, int64_t n);
absl::Status SwiGluBackwardCpu(const float* gate, const float* up, const float* dh, float* dgate, float* dup,
                               int64_t n);

// cross_entropy.cc
absl::Status CrossEntropyForwardCpu(const float* logits, const int32_t* targets, float* losses, float* lse,
                                    int64_t rows, int64_t vocab);
absl::Status CrossEntropyBackwardCpu(const float* logits, const int32_t* targets, const float* lse,
                                     float grad_scale, float* dlogits, int64_t rows, int64_t vocab);

// lora.cc
absl::Status LoraForwardCpu(const LoraShape& s, const float* x_d, const float* a, const float* b, float scale,
                            float* xa, float* y);
absl::Status LoraBackwardCpu(const LoraShape& s, const float* x_d, const float* keep_mask, const float* a,
                             const float* b, const float* xa, float scale, const float* dy, float* da, float* db,
                             float* dx);

// dropout.cc (Philox4x32-10, see kernels.h)
absl::Status DropoutMaskCpu(uint64_t seed, uint64_t stream, uint32_t threshold, float keep, float* mask, int64_t n);

// adamw.cc
absl::Status AdamWStepCpu(const AdamWConfig& config, float* param, const float* grad, float* m, float* v,
                          int64_t n);
absl::Status SumSquaresCpu(const float* x, int64_t n, float* sum_sq);

// elementwise.cc
absl::Status AddCpu(const float* a, const float* b, float* out, int64_t n);
absl::Status AddIntoCpu(float* dst, const float* src, int64_t n);
absl::Status MulCpu(const float* a, const float* b, float* out, int64_t n);
absl::Status ScaleCpu(float* x, float alpha, int64_t n);
absl::Status CopyCpu(float* dst, const float* src, int64_t n);
absl::Status FillCpu(float* x, float value, int64_t n);

}  // namespace ftd::cpu
