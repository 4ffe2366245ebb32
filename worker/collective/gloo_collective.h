// Collective over Gloo's TCP transport: the ranks exchange their addresses through a RendezvousStore (one key per
// rank under a job prefix) and connect a full mesh; all-reduce, broadcast and barrier are Gloo's, each with the
// call's timeout. Gloo reports errors by exceptions; they become absl::Status in this file's one converter.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/collective/collective.h"
#include "worker/collective/rendezvous_store.h"

namespace ftd {

struct GlooOptions {
  int rank = 0;
  int world_size = 1;
  std::string prefix;                          // Namespaces the store keys of this job (and attempt).
  std::string hostname = "127.0.0.1";          // Address this rank listens on.
  absl::Duration connect_timeout = absl::Seconds(60);  // For the rendezvous and the mesh.
};

// Connects this rank to the others (blocks until all have arrived). INVALID_ARGUMENT for a bad rank / size;
// DEADLINE_EXCEEDED naming the missing key when a peer does not arrive in time; UNAVAILABLE for transport errors.
// `store` must outlive the call only.
absl::StatusOr<std::unique_ptr<Collective>> ConnectGloo(const GlooOptions& options, RendezvousStore& store);

}  // namespace ftd
