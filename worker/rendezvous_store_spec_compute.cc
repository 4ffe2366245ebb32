// The rendezvous specs of the compute-only build: file: only.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "worker/rendezvous_store_spec.h"

namespace ftd {

absl::StatusOr<std::unique_ptr<RendezvousStore>> OpenRendezvousStoreSpec(absl::string_view spec) {
  if (absl::StartsWith(spec, "coordinator:")) {
    return absl::FailedPreconditionError(absl::StrCat("--rendezvous ", spec,
                                                      ": the coordinator's rendezvous needs the full build "
                                                      "(FTD_SERVICE=ON)"));
  }
  return OpenRendezvousStore(spec);
}

}  // namespace ftd
