// A CheckpointStore over a plain directory: the store of builds without the service parts (the trainer's local
// sink) with the same chunk/CRC/manifest format as the coordinator's RocksDB store. DESIGN.md, Storage.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/checkpoint/checkpoint_store.h"

namespace ftd {

// Layout: DIR/<checkpoint>/chunk-00000000, chunk-00000001, ... and DIR/<checkpoint>/MANIFEST.json. Every file is
// written to a temp file in the same directory, fsync'd, renamed into place and the directory fsync'd; renaming
// MANIFEST.json into place is the commit. ListCommitted lists the subdirectories holding a MANIFEST.json;
// RemoveOrphans removes those without one (and stray temp files inside committed ones); Delete removes
// MANIFEST.json first (and fsyncs), then the rest. Errors name the path and the OS error.
//
// Several processes may open the same directory: any number read while one writes, since every file appears whole
// or not at all. Only one may write (and call RemoveOrphans, which would take another writer's unfinished
// checkpoint for an orphan). The object itself is for one thread at a time.
//
// Creates `dir` (and its parents) when missing. INVALID_ARGUMENT for an empty path.
absl::StatusOr<std::unique_ptr<CheckpointStore>> OpenFileCheckpointStore(const std::string& dir);

}  // namespace ftd
