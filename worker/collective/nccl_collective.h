// Collective over NCCL (GPU ranks): rank 0 publishes an ncclUniqueId through a RendezvousStore, every rank joins a
// non-blocking communicator on its CUDA device, and each call enqueues one NCCL operation on the collective's own
// stream and polls it to completion or the call's timeout, so that a dead peer becomes an error instead of a hang.
// This header is free of CUDA and NCCL types: only nccl_collective.cc includes their headers.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/collective/collective.h"
#include "worker/collective/rendezvous_store.h"

namespace ftd {

struct NcclOptions {
  int rank = 0;
  int world_size = 1;
  // CUDA ordinal this rank runs on. One rank per device: NCCL refuses two ranks of one communicator on one GPU.
  int device = 0;
  // Namespaces the store keys of this job and attempt: a retried attempt needs a fresh prefix, or late ranks could
  // read the previous attempt's unique id.
  std::string prefix;
  absl::Duration connect_timeout = absl::Seconds(60);  // For the unique id and the communicator's creation together.
};

// Connects this rank to the others (blocks until all have joined) and makes `device` the calling thread's current
// CUDA device. Errors, by what the caller should do:
//   INVALID_ARGUMENT    bad rank / world size / device ordinal / timeout; checked before any CUDA call.
//   FAILED_PRECONDITION the machine has no CUDA device ("no CUDA device: ...") or not `device`.
//   DEADLINE_EXCEEDED   a peer did not arrive in time; names what was waited for (the unique id's key, or the ranks
//                       joining the communicator, which is then aborted).
//   UNAVAILABLE         NCCL transport errors while connecting.
// `store` must outlive the call only.
//
// The endpoint it returns follows collective.h's contract, with these NCCL specifics:
// - Every data pointer is DEVICE memory (cudaMalloc'd on `device`, or managed memory); host pointers are
//   INVALID_ARGUMENT. Calls run on the endpoint's own non-blocking CUDA stream and return once the operation has
//   finished there, so the caller must have finished writing `data` (synchronised its own stream) before the call.
// - Each call polls the stream and the communicator with a short sleep; at its timeout, or on an asynchronous NCCL
//   error, it aborts the communicator (ncclCommAbort) and returns DEADLINE_EXCEEDED / UNAVAILABLE; every later call
//   is FAILED_PRECONDITION with that first error.
// - bf16 partial sums are rounded to bf16 as they travel (NCCL's reduction); the mean is NCCL's ncclAvg, whose
//   rounding order (scaling before or after the sum, by algorithm) can differ in the last bf16 bit from Gloo's.
// - Barrier is an all-reduce of one device float.
// Not thread-safe; destroy it on any thread (it finalises the communicator, aborting it if that does not finish).
absl::StatusOr<std::unique_ptr<Collective>> ConnectNccl(const NcclOptions& options, RendezvousStore& store);

}  // namespace ftd
