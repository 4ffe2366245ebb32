// The collective CPU ranks use: Gloo over TCP in builds with the service parts, none in the compute-only build
// (Gloo does not travel to bare GPU machines, whose ranks use NCCL). One declaration, one definition per build
// (cpu_collective_gloo.cc / cpu_collective_none.cc), so callers need no #ifdef.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/collective/collective.h"
#include "worker/collective/rendezvous_store.h"

namespace ftd {

struct CpuCollectiveOptions {
  int rank = 0;
  int world_size = 1;
  std::string prefix;  // Namespaces this job's rendezvous keys.
  absl::Duration connect_timeout = absl::Seconds(60);
};

// Connects this rank to the others through `store`. FAILED_PRECONDITION in a build without Gloo.
absl::StatusOr<std::unique_ptr<Collective>> ConnectCpuCollective(const CpuCollectiveOptions& options,
                                                                  RendezvousStore& store);

}  // namespace ftd
