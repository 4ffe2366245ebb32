// The coordinator-backed RendezvousStore: a rank's Gloo store and NCCL unique-id exchange through the WorkerService
// Rendezvous RPCs, scoped to one job attempt. `ftd-worker train --rendezvous coordinator:HOST:PORT/jobs/J/ATTEMPT`.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/collective/rendezvous_store.h"

namespace ftd {

struct CoordinatorRendezvousSpec {
  std::string address;  // "host:port".
  std::string job;      // "jobs/{job}".
  int attempt = 0;
};

// Parses "coordinator:HOST:PORT/jobs/{job}/{attempt}"; INVALID_ARGUMENT quoting the spec otherwise.
absl::StatusOr<CoordinatorRendezvousSpec> ParseCoordinatorRendezvousSpec(absl::string_view spec);

// Keys are write-once on the coordinator: setting a key again to another value is ALREADY_EXISTS. Calls that find
// the coordinator unreachable are retried until the operation's own timeout (Wait) or 30 s (Set, Get), so a
// coordinator restart during a rendezvous is survived. The token and TLS files come from the environment
// (ConnectionOptionsFromEnvironment), as `ftd-worker serve` sets it for its ranks.
absl::StatusOr<std::unique_ptr<RendezvousStore>> OpenCoordinatorRendezvousStore(const CoordinatorRendezvousSpec& spec);

}  // namespace ftd
