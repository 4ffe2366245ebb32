// FromRocks: rocksdb::Status -> absl::Status, by what the caller should do about each error.
#include "common/checkpoint/rocksdb_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace ftd {

absl::Status FromRocks(const rocksdb::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat("rocksdb: ", status.ToString());
  // Subcodes first: NoSpace and PathNotFound are IOErrors with a more telling subcode.
  if (status.IsNoSpace() || status.IsMemoryLimit()) return absl::ResourceExhaustedError(message);
  if (status.IsPathNotFound() || status.IsNotFound()) return absl::NotFoundError(message);
  if (status.IsCorruption()) return absl::DataLossError(message);
  if (status.IsIOError() || status.IsBusy() || status.IsTryAgain() || status.IsTimedOut() ||
      status.IsShutdownInProgress()) {
    return absl::UnavailableError(message);
  }
  if (status.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  if (status.IsAborted()) return absl::AbortedError(message);
  if (status.IsNotSupported()) return absl::UnimplementedError(message);
  return absl::InternalError(message);
}

}  // namespace ftd
