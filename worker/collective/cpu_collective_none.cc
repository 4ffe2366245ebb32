// ConnectCpuCollective in the compute-only build: there is no CPU collective without Gloo.
#include "worker/collective/rank_collective.h"

namespace ftd {

absl::StatusOr<std::unique_ptr<Collective>> ConnectCpuCollective(const RankCollectiveOptions&, RendezvousStore&) {
  return absl::FailedPreconditionError(
      "this ftd-worker was built without Gloo (FTD_SERVICE=OFF): CPU training with more than one rank needs the "
      "full build");
}

}  // namespace ftd
