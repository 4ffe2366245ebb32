// Gang placement of fine-tuning jobs onto worker slots (one GPU, or one CPU slot, per worker process): all ranks of a
// job are placed in one decision or none are, so no job ever holds part of its gang while waiting for the rest (no
// partial holds, no deadlock). Pure logic over a snapshot: the coordinator calls it each scheduling cycle with the
// queued jobs and the free slots and commits the placements it returns.
//
// Order: higher priority first; within a priority, the user with the fewest ranks running (counting those placed
// earlier in the same cycle) first, then submission order (FIFO). Each device kind is a queue of its own with
// head-of-line blocking: once a job cannot be placed, no later job of the same kind is placed in that cycle, so small
// jobs cannot starve a large one that is next in line (jobs of another kind still go ahead). Within a job, ranks go
// to the free slots of its kind that fit its per-rank memory, tightest fit first (ties by worker id), rank 0 first.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "coordinator/scheduler/memory_estimate.h"

namespace ftd {

struct WorkerSlot {
  std::string worker;             // Resource name, "workers/{id}".
  DeviceKind kind = DeviceKind::kCpu;
  int64_t memory_bytes = 0;       // Device memory (GPU) or the host memory offered (CPU).
  bool busy = false;              // Runs a rank already.
};

struct QueuedJob {
  std::string job;                // Resource name.
  std::string user;
  int32_t priority = 0;           // Higher runs first.
  int64_t submit_sequence = 0;    // Submission order.
  int32_t world_size = 1;
  DeviceKind kind = DeviceKind::kCpu;
  int64_t rank_memory_bytes = 0;  // MemoryEstimate::total_bytes.
};

struct Placement {
  std::string job;
  std::vector<std::string> workers;  // workers[rank].
};

// The placements of one scheduling cycle, in the order they were decided. `running_ranks` counts each user's ranks
// already running (for fair share). Slots marked busy are never used; a slot is used at most once.
std::vector<Placement> ScheduleCycle(const std::vector<QueuedJob>& queued, const std::vector<WorkerSlot>& slots,
                                     const std::map<std::string, int64_t>& running_ranks);

// Whether `job` could ever be placed on `slots` were they all free: FAILED_PRECONDITION saying how many slots of its
// kind are large enough and how many it needs, with `estimate` in the message, otherwise OK. Submit calls this with
// every registered worker's slot.
absl::Status CheckPlaceable(const QueuedJob& job, const std::vector<WorkerSlot>& slots, const MemoryEstimate& estimate);

}  // namespace ftd
