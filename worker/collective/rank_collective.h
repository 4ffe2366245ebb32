// The collective a training rank connects to, by where it computes: CPU ranks over Gloo (TCP) in builds with the
// service parts, GPU ranks over NCCL in builds with NCCL. One declaration each, one definition per build
// (cpu_collective_gloo.cc / cpu_collective_none.cc, gpu_collective_nccl.cc / gpu_collective_none.cc), so callers
// need no #ifdef.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/collective/collective.h"
#include "worker/collective/rendezvous_store.h"

namespace ftd {

struct RankCollectiveOptions {
  int rank = 0;
  int world_size = 1;
  std::string prefix;  // Namespaces this job's rendezvous keys.
  absl::Duration connect_timeout = absl::Seconds(60);
};

// Connects this CPU rank to the others through `store` (host-memory buffers). FAILED_PRECONDITION in a build
// without Gloo.
absl::StatusOr<std::unique_ptr<Collective>> ConnectCpuCollective(const RankCollectiveOptions& options,
                                                                  RendezvousStore& store);

// Connects this GPU rank, on the current CUDA device, to the others through `store` (device-memory buffers, see
// nccl_collective.h). FAILED_PRECONDITION in a build without NCCL.
absl::StatusOr<std::unique_ptr<Collective>> ConnectGpuCollective(const RankCollectiveOptions& options,
                                                                  RendezvousStore& store);

}  // namespace ftd
