// `ftd-worker train --rendezvous SPEC`: "file:DIR" (any build) or "coordinator:HOST:PORT/jobs/{job}/{attempt}"
// (builds with the service parts: the coordinator's rendezvous KV, as `ftd-worker serve` launches ranks). One
// declaration, a definition per build (rendezvous_store_spec_{full,compute}.cc).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/collective/rendezvous_store.h"

namespace ftd {

// The coordinator scheme takes its token and TLS files from $FTD_TOKEN, $FTD_TLS_CA, $FTD_TLS_CERT, $FTD_TLS_KEY. INVALID_ARGUMENT naming the spec for an unknown
// scheme; FAILED_PRECONDITION for coordinator: in a build without gRPC.
absl::StatusOr<std::unique_ptr<RendezvousStore>> OpenRendezvousStoreSpec(absl::string_view spec);

}  // namespace ftd
