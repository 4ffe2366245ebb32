// The collectives of data-parallel training (issue 5): in-place all-reduce, broadcast and barrier across the ranks
// of one job, each call bounded by a timeout so that a dead peer becomes an error instead of a hang. Implemented
// over Gloo (CPU ranks, TCP) in gloo_collective.h and NCCL (GPU ranks) in nccl_collective.h.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ftd {

enum class ReduceOp { kSum, kAvg };

// One rank's endpoint. Calls are collective: every rank makes the same calls in the same order. A call that fails
// (timeout, peer gone) leaves the endpoint broken: later calls return FAILED_PRECONDITION with the first error.
// Data pointers live where the rank's backend keeps its buffers: host memory for Gloo, device memory for NCCL.
// Not thread-safe.
class Collective {
 public:
  virtual ~Collective() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // data (count) fp32, in place: the element-wise sum (or mean) over the ranks, on every rank.
  // DEADLINE_EXCEEDED when the peers do not all arrive within `timeout`; UNAVAILABLE when a peer is gone.
  virtual absl::Status AllReduce(float* data, int64_t count, ReduceOp op, absl::Duration timeout) = 0;
  // data (count) bf16 (raw bits), in place: as AllReduce, with each partial sum rounded to bf16 (round to nearest
  // even) as it travels, like NCCL's bf16 all-reduce; the mean divides in fp32 and rounds once more.
  virtual absl::Status AllReduceBf16(uint16_t* data, int64_t count, ReduceOp op, absl::Duration timeout) = 0;
  // data (count) fp32, in place: rank `root`'s values on every rank.
  virtual absl::Status Broadcast(float* data, int64_t count, int root, absl::Duration timeout) = 0;
  virtual absl::Status Barrier(absl::Duration timeout) = 0;
};

}  // namespace ftd
