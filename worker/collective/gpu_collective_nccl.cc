// ConnectGpuCollective in builds with NCCL: the NCCL collective on the current CUDA device.
#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"
#include "worker/collective/nccl_collective.h"
#include "worker/collective/rank_collective.h"

namespace ftd {

absl::StatusOr<std::unique_ptr<Collective>> ConnectGpuCollective(const RankCollectiveOptions& options,
                                                                  RendezvousStore& store) {
  NcclOptions nccl;
  nccl.rank = options.rank;
  nccl.world_size = options.world_size;
  nccl.prefix = options.prefix;
  nccl.connect_timeout = options.connect_timeout;
  // The device the rank's backend runs on: the current one (ftd-worker serve narrows the child's view to its GPU).
  if (const cudaError_t error = cudaGetDevice(&nccl.device); error != cudaSuccess) {
    return absl::FailedPreconditionError(absl::StrCat("no CUDA device for the NCCL collective: ",
                                                      cudaGetErrorString(error)));
  }
  return ConnectNccl(nccl, store);
}

}  // namespace ftd
