// ConnectGpuCollective in builds without NCCL (no CUDA, or NCCL not found at configure time).
#include "worker/collective/rank_collective.h"

namespace ftd {

absl::StatusOr<std::unique_ptr<Collective>> ConnectGpuCollective(const RankCollectiveOptions&, RendezvousStore&) {
  return absl::FailedPreconditionError(
      "this ftd-worker was built without NCCL: CUDA training with more than one rank needs a build with NCCL "
      "(scripts/gpu-check.sh finds it beside the CUDA toolkit or in PyTorch's nvidia-nccl)");
}

}  // namespace ftd
