// `--checkpoints SPEC` of the standalone commands: "file:DIR" (any build) or "rocksdb:DIR" (builds with the
// service parts). One declaration, a definition per build (checkpoint_store_spec_{full,compute}.cc).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/checkpoint/checkpoint_store.h"

namespace ftd {

// The store a standalone run uses when no spec is given: RocksDB under `output_dir`/checkpoints where the build
// has it, else the file store there.
std::string DefaultCheckpointStoreSpec(const std::string& output_dir);

// INVALID_ARGUMENT naming the spec for an unknown scheme or an empty path; FAILED_PRECONDITION for rocksdb: in a
// build without it.
absl::StatusOr<std::unique_ptr<CheckpointStore>> OpenCheckpointStoreSpec(absl::string_view spec);

}  // namespace ftd
