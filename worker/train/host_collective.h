// The trainer's collective calls on host values (the step's loss and token totals, the guardrail's sums, a resumed
// run's header and evals) over a collective that reads buffers where the rank's backend keeps its own: passed as
// they are where the backend's memory is the host's (Gloo on the CPU backend), staged through a small backend buffer
// otherwise (NCCL reads device memory).
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "kernels/kernels.h"
#include "worker/collective/collective.h"

namespace ftd {

// data (n) on the host, in place: Collective::AllReduce.
absl::Status AllReduceHost(Collective& collective, Backend& backend, float* data, int64_t n, ReduceOp op,
                           absl::Duration timeout);

// data (n) on the host, in place: Collective::Broadcast.
absl::Status BroadcastHost(Collective& collective, Backend& backend, float* data, int64_t n, int root,
                           absl::Duration timeout);

}  // namespace ftd
