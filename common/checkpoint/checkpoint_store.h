// Where checkpoints live, as raw bytes: per checkpoint, numbered chunk blobs and one manifest. The format on top
// (chunking, CRC32C, the manifest's contents) is checkpoint_io.h; the stores are file_checkpoint_store.h (any
// build) and rocksdb_checkpoint_store.h (service builds). DESIGN.md, Storage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ftd {

// The manifest is committed last and atomically, after every chunk is durable, so a checkpoint with a manifest
// is whole and one without is an orphan of a writer that died. Checkpoint names are [A-Za-z0-9._-]+ (e.g.
// "step-00000020"). Implementations are safe to use from one thread at a time; several processes may open the
// same store only where the implementation says so.
class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;

  // Durable when it returns (fsync'd file / synced write batch). Overwrites a chunk of the same index.
  virtual absl::Status PutChunk(absl::string_view checkpoint, int64_t index, absl::string_view bytes) = 0;
  // Durable and atomic: readers see the whole manifest or none. Call after every PutChunk of the checkpoint.
  virtual absl::Status CommitManifest(absl::string_view checkpoint, absl::string_view manifest) = 0;
  // NOT_FOUND when the checkpoint has no committed manifest.
  virtual absl::StatusOr<std::string> GetManifest(absl::string_view checkpoint) = 0;
  // NOT_FOUND naming the checkpoint and index when the chunk is missing.
  virtual absl::StatusOr<std::string> GetChunk(absl::string_view checkpoint, int64_t index) = 0;
  // Names of the checkpoints with a committed manifest, sorted ascending.
  virtual absl::StatusOr<std::vector<std::string>> ListCommitted() = 0;
  // Removes the manifest first (the checkpoint stops existing for readers), then its chunks. OK when absent.
  virtual absl::Status Delete(absl::string_view checkpoint) = 0;
  // Removes the chunks of every checkpoint that has no manifest (a writer died mid-way); returns how many such
  // checkpoints were removed. Call when opening a store for writing, before the first new checkpoint.
  virtual absl::StatusOr<int64_t> RemoveOrphans() = 0;
};

// OK when `name` is a valid checkpoint name: [A-Za-z0-9._-]+ and neither "." nor ".." (it becomes a directory
// name and a key prefix). INVALID_ARGUMENT quoting it otherwise. Every store and the writer check names with it.
absl::Status ValidateCheckpointName(absl::string_view name);

}  // namespace ftd
