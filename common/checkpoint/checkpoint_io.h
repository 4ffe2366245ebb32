// The checkpoint format over a CheckpointStore (DESIGN.md, Storage): a checkpoint is a few named files (the
// trainer's tensors and state), cut into chunks of a few MiB, each stored with its CRC32C; the manifest naming
// every file and chunk is committed last. Reading verifies every chunk, so corruption or truncation is DATA_LOSS,
// never silently wrong weights. Used alike by the trainer (file or RocksDB store) and the coordinator.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/checkpoint/checkpoint_store.h"

namespace ftd {

inline constexpr int64_t kDefaultCheckpointChunkBytes = int64_t{4} << 20;

struct CheckpointChunkEntry {
  int32_t file = 0;      // Index into CheckpointManifest::files.
  int64_t offset = 0;    // Byte offset within that file.
  int64_t size = 0;      // Bytes.
  uint32_t crc32c = 0;   // CRC32C (Castagnoli) of the chunk's bytes.
};

struct CheckpointFileEntry {
  std::string name;
  int64_t size_bytes = 0;
};

// What the manifest holds, as JSON: {"format": "ftd-checkpoint/1", "name", "step", "metadata": {...},
// "files": [{"name", "size_bytes"}], "chunks": [{"file", "offset", "size", "crc32c"}]}. Chunk i of the manifest
// is the store's chunk index i.
struct CheckpointManifest {
  std::string name;
  int64_t step = 0;
  // A JSON object of the writer's own (the trainer's state), not interpreted: it round-trips as JSON (same members
  // in the same order), re-serialised without whitespace.
  std::string metadata_json = "{}";
  std::vector<CheckpointFileEntry> files;
  std::vector<CheckpointChunkEntry> chunks;
};

// `manifest.metadata_json` must hold a JSON object (CheckpointWriter::Commit checks): anything else is encoded as
// null, which DecodeCheckpointManifest rejects.
std::string EncodeCheckpointManifest(const CheckpointManifest& manifest);
// DATA_LOSS naming the checkpoint for malformed JSON, a wrong format tag, a manifest naming another checkpoint or
// chunks that do not tile the files (in order: file by file, each from offset 0 to its size with no gap or overlap).
absl::StatusOr<CheckpointManifest> DecodeCheckpointManifest(absl::string_view checkpoint, absl::string_view json);

// Writes one checkpoint: files are cut into chunks and stored as they are added; Commit writes the manifest. A
// writer that is destroyed without Commit leaves orphan chunks, which RemoveOrphans cleans up. Not thread-safe.
class CheckpointWriter {
 public:
  // `name` as CheckpointStore requires; INVALID_ARGUMENT otherwise or for chunk_bytes <= 0. ALREADY_EXISTS when the
  // store has a committed checkpoint of that name (new chunks would overwrite the ones its manifest checks).
  static absl::StatusOr<CheckpointWriter> Begin(CheckpointStore* store, std::string name,
                                                int64_t chunk_bytes = kDefaultCheckpointChunkBytes);
  // INVALID_ARGUMENT for an empty, duplicate or non-UTF-8 file name; FAILED_PRECONDITION after Commit; a store
  // error otherwise (the file is then not in the checkpoint and may be added again).
  absl::Status AddFile(absl::string_view file_name, absl::string_view bytes);
  // Commits the manifest (after every chunk is durable). FAILED_PRECONDITION when called twice; INVALID_ARGUMENT
  // when metadata_json is not a JSON object.
  absl::Status Commit(int64_t step, absl::string_view metadata_json);

 private:
  CheckpointWriter(CheckpointStore* store, std::string name, int64_t chunk_bytes)
      : store_(store), chunk_bytes_(chunk_bytes) {
    manifest_.name = std::move(name);
  }
  CheckpointStore* store_;
  int64_t chunk_bytes_;
  CheckpointManifest manifest_;
  bool committed_ = false;
};

// The manifest of a committed checkpoint (NOT_FOUND when there is none; DATA_LOSS when it does not decode).
absl::StatusOr<CheckpointManifest> ReadCheckpointManifest(CheckpointStore& store, absl::string_view checkpoint);

// Every file of a committed checkpoint, verified: DATA_LOSS naming the checkpoint, the file and the chunk for a
// missing chunk, a chunk of the wrong size (truncated) or a CRC32C mismatch. NOT_FOUND when there is no such
// checkpoint, or when it was deleted (its manifest gone) while being read.
absl::StatusOr<std::map<std::string, std::string>> ReadCheckpointFiles(CheckpointStore& store,
                                                                       absl::string_view checkpoint);

// Garbage collection (DESIGN.md: GC keeps the last K and the best): deletes every committed checkpoint but the
// `keep_latest` last in name order (names like "step-00000020" sort by step) and those named in `keep`. Names in
// `keep` that do not exist are ignored; keep_latest <= 0 keeps everything. Stops at the first store error.
absl::Status PruneCheckpoints(CheckpointStore& store, int64_t keep_latest, const std::set<std::string>& keep);

}  // namespace ftd
