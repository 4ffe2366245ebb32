// A CheckpointStore in a RocksDB column family: the coordinator's checkpoint storage (DESIGN.md, Storage). Service
// builds only; with rocksdb_status.h the only place besides the coordinator's own storage that includes RocksDB.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/checkpoint/checkpoint_store.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"

namespace ftd {

inline constexpr char kCheckpointColumnFamily[] = "checkpoints";

// The options the checkpoints column family must be opened with: BlobDB on (enable_blob_files, min_blob_size
// 64 KiB), so multi-MiB chunks live in blob files and compaction rewrites only keys and manifests; blob garbage
// collection on, so space of deleted checkpoints comes back. A DB that hosts the family (the coordinator's) opens
// it with these.
rocksdb::ColumnFamilyOptions CheckpointColumnFamilyOptions();

// Keys: "<checkpoint>/c/<chunk index, 10 digits zero-padded>" and "<checkpoint>/m" (the manifest), after the
// view's key prefix when it has one; names never hold '/', so "<checkpoint>/" prefixes exactly one checkpoint's
// keys. Every PutChunk is its own write batch and every write is synced (sync=true). Chunk indices are
// 0 ... 9999999999. One process only (RocksDB locks the DB); the object is for one thread at a time.
//
// Its own DB at `path` (created when missing) with the families "default" and kCheckpointColumnFamily; the store
// owns and closes it. UNAVAILABLE when another process holds the DB open.
absl::StatusOr<std::unique_ptr<CheckpointStore>> OpenRocksDbCheckpointStore(const std::string& path);

// A store over a family of a DB someone else owns (the coordinator's): neither is owned, and both must outlive the
// store. The family should have CheckpointColumnFamilyOptions().
//
// `key_prefix` makes the store a view of part of the family: every key it writes is "<key_prefix><checkpoint>/...",
// and ListCommitted and RemoveOrphans see only keys under the prefix, so views with different prefixes share one
// family without seeing each other's checkpoints (the coordinator's per-job stores use "jobs/<job>/"). No prefix
// may be a prefix of another view's (end each with '/', which names never hold), and an unprefixed store must
// not share a family with prefixed views: it would take their keys for checkpoints of its own. The empty prefix
// is the whole family, as above.
std::unique_ptr<CheckpointStore> NewRocksDbCheckpointStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family,
                                                           std::string key_prefix = "");

}  // namespace ftd
