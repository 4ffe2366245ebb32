// The key-value store ranks meet through before they can talk to each other (issue 5): rank 0 publishes its
// address or NCCL unique id, the others wait for it. One interface with a file-backed store now (several local
// processes, `--rendezvous file:DIR`); the coordinator-backed store (WorkerService Rendezvous RPCs) arrives with the
// coordinator. Gloo's and NCCL's bootstraps sit on top of this interface.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ftd {

// Thread-safe; values are opaque bytes. A key is set once per rendezvous round (setting it again replaces it).
class RendezvousStore {
 public:
  virtual ~RendezvousStore() = default;

  virtual absl::Status Set(absl::string_view key, absl::string_view value) = 0;
  // The value, or nullopt when the key is not set (yet).
  virtual absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) = 0;
  // The value once the key is set; DEADLINE_EXCEEDED naming the key when `timeout` passes first.
  virtual absl::StatusOr<std::string> Wait(absl::string_view key, absl::Duration timeout) = 0;
};

// A store in directory `dir` (created if missing) that every participating process on this machine (or on a shared
// filesystem) opens: one file per key, written to a temp file and renamed, so a reader sees a whole value or none.
// Wait polls with a short backoff. For tests and standalone multi-process runs.
absl::StatusOr<std::unique_ptr<RendezvousStore>> OpenFileRendezvousStore(const std::string& dir);

// A store from its `--rendezvous` spec: "file:DIR". INVALID_ARGUMENT naming the spec for anything else.
absl::StatusOr<std::unique_ptr<RendezvousStore>> OpenRendezvousStore(absl::string_view spec);

}  // namespace ftd
