// The one place rocksdb::Status becomes absl::Status (STYLE.md, Errors). Storage code only: nothing else includes
// RocksDB headers.
#pragma once

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace ftd {

// OK stays OK. The code says what the caller should do: DATA_LOSS for corruption, NOT_FOUND for a missing key or
// path, UNAVAILABLE for I/O errors and busy/timed-out/shutting-down states (retry later), RESOURCE_EXHAUSTED for a
// full disk or memory limit, INVALID_ARGUMENT, ABORTED, UNIMPLEMENTED for NotSupported, INTERNAL for the rest.
// The message is "rocksdb: " and RocksDB's own text.
absl::Status FromRocks(const rocksdb::Status& status);

}  // namespace ftd
