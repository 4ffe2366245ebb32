// RocksDbCheckpointStore: chunks and manifests as keys of one column family, every write synced; the manifest key
// is the commit. RocksDB errors become Status through FromRocks only.
#include "common/checkpoint/rocksdb_checkpoint_store.h"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/checkpoint/rocksdb_status.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "rocksdb/iterator.h"
#include "rocksdb/write_batch.h"

namespace ftd {
namespace {

constexpr int64_t kMaxChunkIndex = 9'999'999'999;  // 10 digits keep the chunk keys in index order.

rocksdb::Slice ToSlice(absl::string_view bytes) { return rocksdb::Slice(bytes.data(), bytes.size()); }

absl::Status CheckChunkIndex(absl::string_view checkpoint, int64_t index) {
  if (index >= 0 && index <= kMaxChunkIndex) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("checkpoint ", checkpoint, ": chunk index ", index, " outside 0..", kMaxChunkIndex));
}

rocksdb::WriteOptions SyncedWrite() {
  rocksdb::WriteOptions options;
  options.sync = true;
  return options;
}

class RocksDbCheckpointStore final : public CheckpointStore {
 public:
  RocksDbCheckpointStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, std::string key_prefix)
      : db_(db), family_(family), prefix_(std::move(key_prefix)) {}

  // Owning: `handles` are every family handle the DB was opened with (family among them).
  RocksDbCheckpointStore(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
                         rocksdb::ColumnFamilyHandle* family)
      : db_(db.get()), family_(family), owned_db_(std::move(db)), owned_handles_(std::move(handles)) {}

  ~RocksDbCheckpointStore() override {
    if (owned_db_ == nullptr) return;
    for (rocksdb::ColumnFamilyHandle* handle : owned_handles_) {
      const absl::Status status = FromRocks(owned_db_->DestroyColumnFamilyHandle(handle));
      if (!status.ok()) FTD_LOG(WARNING) << "checkpoint store: " << status;
    }
    const absl::Status status = FromRocks(owned_db_->Close());
    if (!status.ok()) FTD_LOG(WARNING) << "checkpoint store: closing the DB: " << status;
  }

  RocksDbCheckpointStore(const RocksDbCheckpointStore&) = delete;
  RocksDbCheckpointStore& operator=(const RocksDbCheckpointStore&) = delete;

  absl::Status PutChunk(absl::string_view checkpoint, int64_t index, absl::string_view bytes) override {
    RETURN_IF_ERROR(ValidateCheckpointName(checkpoint));
    RETURN_IF_ERROR(CheckChunkIndex(checkpoint, index));
    // A batch of its own: a checkpoint can be many GB and must never sit in one batch.
    rocksdb::WriteBatch batch;
    RETURN_IF_ERROR(FromRocks(batch.Put(family_, ChunkKey(checkpoint, index), ToSlice(bytes))));
    RETURN_IF_ERROR_CONTEXT(FromRocks(db_->Write(SyncedWrite(), &batch)),
                            absl::StrCat("checkpoint ", checkpoint, " chunk ", index));
    return absl::OkStatus();
  }

  absl::Status CommitManifest(absl::string_view checkpoint, absl::string_view manifest) override {
    RETURN_IF_ERROR(ValidateCheckpointName(checkpoint));
    RETURN_IF_ERROR_CONTEXT(FromRocks(db_->Put(SyncedWrite(), family_, ManifestKey(checkpoint), ToSlice(manifest))),
                            absl::StrCat("checkpoint ", checkpoint, " manifest"));
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> GetManifest(absl::string_view checkpoint) override {
    RETURN_IF_ERROR(ValidateCheckpointName(checkpoint));
    std::string manifest;
    RETURN_IF_ERROR_CONTEXT(FromRocks(db_->Get(rocksdb::ReadOptions(), family_, ManifestKey(checkpoint), &manifest)),
                            absl::StrCat("checkpoint ", checkpoint, " manifest"));
    return manifest;
  }

  absl::StatusOr<std::string> GetChunk(absl::string_view checkpoint, int64_t index) override {
    RETURN_IF_ERROR(ValidateCheckpointName(checkpoint));
    RETURN_IF_ERROR(CheckChunkIndex(checkpoint, index));
    std::string chunk;
    RETURN_IF_ERROR_CONTEXT(FromRocks(db_->Get(rocksdb::ReadOptions(), family_, ChunkKey(checkpoint, index), &chunk)),
                            absl::StrCat("checkpoint ", checkpoint, " chunk ", index));
    return chunk;
  }

  absl::StatusOr<std::vector<std::string>> ListCommitted() override {
    std::vector<std::string> committed;
    RETURN_IF_ERROR(ForEachCheckpoint([&](const std::string& checkpoint, bool has_manifest) {
      if (has_manifest) committed.push_back(checkpoint);
    }));
    // Key order is not name order: "a.b/m" sorts before "a/m" ('.' < '/') while "a" < "a.b".
    std::sort(committed.begin(), committed.end());
    return committed;
  }

  absl::Status Delete(absl::string_view checkpoint) override {
    RETURN_IF_ERROR(ValidateCheckpointName(checkpoint));
    const std::string context = absl::StrCat("deleting checkpoint ", checkpoint);
    // The manifest first, synced: from then on readers see no checkpoint, and a crash leaves an orphan at worst.
    RETURN_IF_ERROR_CONTEXT(FromRocks(db_->Delete(SyncedWrite(), family_, ManifestKey(checkpoint))), context);
    RETURN_IF_ERROR_CONTEXT(DeleteKeys(checkpoint), context);
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> RemoveOrphans() override {
    std::vector<std::string> orphans;
    RETURN_IF_ERROR(ForEachCheckpoint([&](const std::string& checkpoint, bool has_manifest) {
      if (!has_manifest) orphans.push_back(checkpoint);
    }));
    for (const std::string& orphan : orphans) {
      RETURN_IF_ERROR_CONTEXT(DeleteKeys(orphan), absl::StrCat("removing orphan checkpoint ", orphan));
    }
    return static_cast<int64_t>(orphans.size());
  }

 private:
  // Every key below starts with prefix_ (empty for a store that owns the whole family).
  std::string ChunkKey(absl::string_view checkpoint, int64_t index) const {
    return absl::StrFormat("%s%s/c/%010d", prefix_, checkpoint, index);
  }
  std::string ManifestKey(absl::string_view checkpoint) const { return absl::StrCat(prefix_, checkpoint, "/m"); }
  // [KeysBegin, KeysEnd) holds exactly the checkpoint's keys: '0' is the byte right after '/'.
  std::string KeysBegin(absl::string_view checkpoint) const { return absl::StrCat(prefix_, checkpoint, "/"); }
  std::string KeysEnd(absl::string_view checkpoint) const { return absl::StrCat(prefix_, checkpoint, "0"); }

  absl::Status DeleteKeys(absl::string_view checkpoint) {
    return FromRocks(db_->DeleteRange(SyncedWrite(), family_, KeysBegin(checkpoint), KeysEnd(checkpoint)));
  }

  // Calls visit(name, has_manifest) for every checkpoint under the prefix with any key, in key order. Skips from
  // checkpoint to checkpoint with seeks rather than walking every chunk key; landing on a checkpoint's first chunk
  // may still read that one value (an iterator can load a blob value when it is positioned), one chunk per
  // checkpoint.
  absl::Status ForEachCheckpoint(const std::function<void(const std::string&, bool)>& visit) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), family_));
    it->Seek(prefix_);  // The first key at or after the prefix (SeekToFirst for the empty one).
    while (it->Valid()) {
      const rocksdb::Slice full_key = it->key();
      absl::string_view key_view(full_key.data(), full_key.size());
      if (!absl::ConsumePrefix(&key_view, prefix_)) break;  // Past this view's keys.
      const size_t slash = key_view.find('/');
      if (slash == absl::string_view::npos || !ValidateCheckpointName(key_view.substr(0, slash)).ok()) {
        it->Next();  // Not a key this store writes; leave it alone.
        continue;
      }
      const std::string checkpoint(key_view.substr(0, slash));
      const std::string manifest_key = ManifestKey(checkpoint);
      it->Seek(manifest_key);  // After every chunk key: 'c' < 'm'.
      visit(checkpoint, it->Valid() && it->key() == rocksdb::Slice(manifest_key));
      it->Seek(KeysEnd(checkpoint));
    }
    return FromRocks(it->status());
  }

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const family_;
  const std::string prefix_;
  std::unique_ptr<rocksdb::DB> owned_db_;  // Null when the DB belongs to the caller.
  std::vector<rocksdb::ColumnFamilyHandle*> owned_handles_;
};

}  // namespace

rocksdb::ColumnFamilyOptions CheckpointColumnFamilyOptions() {
  rocksdb::ColumnFamilyOptions options;
  options.enable_blob_files = true;
  options.min_blob_size = 64 << 10;
  options.enable_blob_garbage_collection = true;
  return options;
}

absl::StatusOr<std::unique_ptr<CheckpointStore>> OpenRocksDbCheckpointStore(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("checkpoint store: empty DB path");
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  const std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {kCheckpointColumnFamily, CheckpointColumnFamilyOptions()},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  RETURN_IF_ERROR_CONTEXT(FromRocks(rocksdb::DB::Open(options, path, families, &handles, &db)),
                          absl::StrCat("opening checkpoint store ", path));
  rocksdb::ColumnFamilyHandle* family = handles[1];
  return std::make_unique<RocksDbCheckpointStore>(std::unique_ptr<rocksdb::DB>(db), std::move(handles), family);
}

std::unique_ptr<CheckpointStore> NewRocksDbCheckpointStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family,
                                                           std::string key_prefix) {
  FTD_CHECK(db != nullptr && family != nullptr) << "NewRocksDbCheckpointStore needs a DB and a column family";
  return std::make_unique<RocksDbCheckpointStore>(db, family, std::move(key_prefix));
}

}  // namespace ftd
