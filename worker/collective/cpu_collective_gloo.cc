// ConnectCpuCollective in builds with the service parts: Gloo over TCP on loopback addresses.
#include "worker/collective/rank_collective.h"
#include "worker/collective/gloo_collective.h"

namespace ftd {

absl::StatusOr<std::unique_ptr<Collective>> ConnectCpuCollective(const RankCollectiveOptions& options,
                                                                  RendezvousStore& store) {
  GlooOptions gloo;
  gloo.rank = options.rank;
  gloo.world_size = options.world_size;
  gloo.prefix = options.prefix;
  gloo.connect_timeout = options.connect_timeout;
  return ConnectGloo(gloo, store);
}

}  // namespace ftd
