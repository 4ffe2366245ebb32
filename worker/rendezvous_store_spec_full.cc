// The rendezvous specs of builds with the service parts: file: and coordinator:.

#include "absl/strings/match.h"
#include "worker/rendezvous_store_spec.h"
#include "worker/service/coordinator_rendezvous_store.h"

namespace ftd {

absl::StatusOr<std::unique_ptr<RendezvousStore>> OpenRendezvousStoreSpec(absl::string_view spec) {
  if (!absl::StartsWith(spec, "coordinator:")) return OpenRendezvousStore(spec);
  absl::StatusOr<CoordinatorRendezvousSpec> parsed = ParseCoordinatorRendezvousSpec(spec);
  if (!parsed.ok()) return parsed.status();
  return OpenCoordinatorRendezvousStore(*parsed);
}

}  // namespace ftd
