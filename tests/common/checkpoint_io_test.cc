// Checkpoint storage through its public contract, over every store this build has: the file store always, the
// RocksDB store in service builds (FTD_TEST_ROCKSDB). Round trips, manifest decoding, corruption found by the
// reader (flipped byte, truncated and missing chunks), orphans, pruning, reopening and a writer SIGKILLed mid-way.
#include "common/checkpoint/checkpoint_io.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/checkpoint/checkpoint_store.h"
#include "common/checkpoint/file_checkpoint_store.h"
#include "common/crc32c.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

#ifdef FTD_TEST_ROCKSDB
#include "common/checkpoint/rocksdb_checkpoint_store.h"
#include "common/checkpoint/rocksdb_status.h"
#include "rocksdb/db.h"
#endif

namespace ftd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Files = std::vector<std::pair<std::string, std::string>>;  // In the order they are added.

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string bytes(n, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

absl::Status WriteCheckpoint(CheckpointStore* store, const std::string& name, const Files& files,
                             int64_t chunk_bytes = 7, int64_t step = 1, absl::string_view metadata = "{}") {
  absl::StatusOr<CheckpointWriter> writer = CheckpointWriter::Begin(store, name, chunk_bytes);
  if (!writer.ok()) return writer.status();
  for (const auto& [file_name, bytes] : files) {
    absl::Status status = writer->AddFile(file_name, bytes);
    if (!status.ok()) return status;
  }
  return writer->Commit(step, metadata);
}

std::map<std::string, std::string> AsMap(const Files& files) { return {files.begin(), files.end()}; }

// A kind of store under test, plus what the corruption tests need: changing a stored chunk behind the store's back.
class StoreEnv {
 public:
  virtual ~StoreEnv() = default;
  // The store at this environment's fixed location, opened anew (the previous one is closed first).
  virtual CheckpointStore* Reopen() = 0;
  virtual void Close() = 0;
  // Replaces the stored bytes of a chunk (bit rot, a torn write), bypassing the store.
  virtual void OverwriteChunk(const std::string& checkpoint, int64_t index, const std::string& bytes) = 0;
  virtual void RemoveChunk(const std::string& checkpoint, int64_t index) = 0;
  // Another process's own store at the same location (after Close here, where the store allows one process only).
  virtual absl::StatusOr<std::unique_ptr<CheckpointStore>> OpenAnother() = 0;
};

class FileStoreEnv : public StoreEnv {
 public:
  FileStoreEnv() : dir_(temp_.file("store")) {}

  CheckpointStore* Reopen() override {
    store_.reset();
    absl::StatusOr<std::unique_ptr<CheckpointStore>> store = OpenFileCheckpointStore(dir_);
    EXPECT_TRUE(store.ok()) << store.status();
    if (store.ok()) store_ = *std::move(store);
    return store_.get();
  }
  void Close() override { store_.reset(); }
  void OverwriteChunk(const std::string& checkpoint, int64_t index, const std::string& bytes) override {
    std::ofstream out(ChunkPath(checkpoint, index), std::ios::binary | std::ios::trunc);
    out << bytes;
    ASSERT_TRUE(out.good());
  }
  void RemoveChunk(const std::string& checkpoint, int64_t index) override {
    ASSERT_TRUE(std::filesystem::remove(ChunkPath(checkpoint, index)));
  }
  absl::StatusOr<std::unique_ptr<CheckpointStore>> OpenAnother() override { return OpenFileCheckpointStore(dir_); }

  const std::string& dir() const { return dir_; }
  std::string ChunkPath(const std::string& checkpoint, int64_t index) const {
    return absl::StrFormat("%s/%s/chunk-%08d", dir_, checkpoint, index);
  }

 private:
  TempDir temp_;
  std::string dir_;
  std::unique_ptr<CheckpointStore> store_;
};

#ifdef FTD_TEST_ROCKSDB
// Opens its own DB with the checkpoints family and hands it to the store through the DB* factory (as the
// coordinator will), keeping the raw DB for the corruption tests.
class RocksDbStoreEnv : public StoreEnv {
 public:
  RocksDbStoreEnv() : path_(temp_.file("db")) {}
  ~RocksDbStoreEnv() override { Close(); }

  CheckpointStore* Reopen() override {
    Close();
    rocksdb::DBOptions options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    const std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {kCheckpointColumnFamily, CheckpointColumnFamilyOptions()},
    };
    const rocksdb::Status status = rocksdb::DB::Open(options, path_, families, &handles_, &db_);
    EXPECT_TRUE(status.ok()) << status.ToString();
    if (!status.ok()) return nullptr;
    store_ = NewRocksDbCheckpointStore(db_, family());
    return store_.get();
  }
  void Close() override {
    store_.reset();
    if (db_ == nullptr) return;
    for (rocksdb::ColumnFamilyHandle* handle : handles_) EXPECT_TRUE(db_->DestroyColumnFamilyHandle(handle).ok());
    handles_.clear();
    EXPECT_TRUE(db_->Close().ok());
    delete db_;
    db_ = nullptr;
  }
  void OverwriteChunk(const std::string& checkpoint, int64_t index, const std::string& bytes) override {
    ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), family(), ChunkKey(checkpoint, index), bytes).ok());
  }
  void RemoveChunk(const std::string& checkpoint, int64_t index) override {
    ASSERT_TRUE(db_->Delete(rocksdb::WriteOptions(), family(), ChunkKey(checkpoint, index)).ok());
  }
  absl::StatusOr<std::unique_ptr<CheckpointStore>> OpenAnother() override {
    return OpenRocksDbCheckpointStore(path_);  // The owning factory, so both are exercised on one DB.
  }

  rocksdb::DB* db() const { return db_; }
  rocksdb::ColumnFamilyHandle* family() const { return handles_.at(1); }
  const std::string& path() const { return path_; }
  static std::string ChunkKey(const std::string& checkpoint, int64_t index) {
    return absl::StrFormat("%s/c/%010d", checkpoint, index);
  }

 private:
  TempDir temp_;
  std::string path_;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<CheckpointStore> store_;
};
#endif

std::unique_ptr<StoreEnv> MakeEnv(const std::string& kind) {
#ifdef FTD_TEST_ROCKSDB
  if (kind == "rocksdb") return std::make_unique<RocksDbStoreEnv>();
#endif
  EXPECT_EQ(kind, "file");
  return std::make_unique<FileStoreEnv>();
}

class CheckpointStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    env_ = MakeEnv(GetParam());
    store_ = env_->Reopen();
    ASSERT_NE(store_, nullptr);
  }
  void Reopen() { store_ = env_->Reopen(); }

  std::unique_ptr<StoreEnv> env_;
  CheckpointStore* store_ = nullptr;
};

Files SampleFiles() {
  return {
      {"config.json", R"({"hidden_size": 64, "layers": 2})"},
      {"empty.bin", ""},
      {"weights.bin", RandomBytes(300, 1)},  // 43 chunks of 7 bytes.
      {"optimizer.bin", RandomBytes(50, 2)},
  };
}

TEST_P(CheckpointStoreTest, RoundTripsFilesByteExact) {
  const Files files = SampleFiles();
  ASSERT_TRUE(WriteCheckpoint(store_, "step-00000020", files, 7, 20, R"({"lr": 0.5, "rng": [1, 2]})").ok());

  EXPECT_THAT(*store_->ListCommitted(), ElementsAre("step-00000020"));
  absl::StatusOr<std::map<std::string, std::string>> read = ReadCheckpointFiles(*store_, "step-00000020");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, AsMap(files));

  absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(*store_, "step-00000020");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->name, "step-00000020");
  EXPECT_EQ(manifest->step, 20);
  EXPECT_EQ(manifest->metadata_json, R"({"lr":0.5,"rng":[1,2]})");
  ASSERT_EQ(manifest->files.size(), files.size());
  size_t expected_chunks = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    EXPECT_EQ(manifest->files[f].name, files[f].first);
    EXPECT_EQ(manifest->files[f].size_bytes, static_cast<int64_t>(files[f].second.size()));
    expected_chunks += (files[f].second.size() + 6) / 7;
  }
  ASSERT_EQ(manifest->chunks.size(), expected_chunks);
  for (size_t i = 0; i < manifest->chunks.size(); ++i) {
    const CheckpointChunkEntry& chunk = manifest->chunks[i];
    EXPECT_NE(chunk.file, 1) << "the empty file has no chunks";
    const std::string expected = files[chunk.file].second.substr(chunk.offset, chunk.size);
    absl::StatusOr<std::string> stored = store_->GetChunk("step-00000020", static_cast<int64_t>(i));
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(*stored, expected) << "chunk " << i;
    EXPECT_EQ(chunk.crc32c, Crc32c(expected)) << "chunk " << i;
  }
}

TEST_P(CheckpointStoreTest, RoundTripsOneChunkFilesAndACheckpointWithNoFiles) {
  const Files files = {{"a", "x"}, {"b", RandomBytes(3000, 3)}};
  ASSERT_TRUE(WriteCheckpoint(store_, "big-chunks", files, kDefaultCheckpointChunkBytes).ok());
  EXPECT_EQ(*ReadCheckpointFiles(*store_, "big-chunks"), AsMap(files));
  EXPECT_EQ(ReadCheckpointManifest(*store_, "big-chunks")->chunks.size(), 2u);

  ASSERT_TRUE(WriteCheckpoint(store_, "nothing", {}).ok());
  EXPECT_TRUE(ReadCheckpointFiles(*store_, "nothing")->empty());
  EXPECT_THAT(*store_->ListCommitted(), ElementsAre("big-chunks", "nothing"));
}

// "a" is chunks 0-1, "weights.bin" chunks 2-16: chunk 5 is the fourth chunk of weights.bin.
Files CorruptionFiles() { return {{"a", RandomBytes(10, 4)}, {"weights.bin", RandomBytes(100, 5)}}; }

TEST_P(CheckpointStoreTest, FlippedByteIsDataLossNamingFileAndChunk) {
  ASSERT_TRUE(WriteCheckpoint(store_, "step-1", CorruptionFiles()).ok());
  std::string chunk = *store_->GetChunk("step-1", 5);
  chunk[3] = static_cast<char>(chunk[3] ^ 0x01);
  env_->OverwriteChunk("step-1", 5, chunk);

  absl::StatusOr<std::map<std::string, std::string>> read = ReadCheckpointFiles(*store_, "step-1");
  ASSERT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << read.status();
  EXPECT_THAT(Message(read.status()), HasSubstr("checkpoint step-1"));
  EXPECT_THAT(Message(read.status()), HasSubstr("\"weights.bin\""));
  EXPECT_THAT(Message(read.status()), HasSubstr("chunk 5"));
  EXPECT_THAT(Message(read.status()), HasSubstr("CRC32C mismatch"));
  EXPECT_TRUE(ReadCheckpointManifest(*store_, "step-1").ok()) << "the manifest itself is intact";
}

TEST_P(CheckpointStoreTest, TruncatedChunkIsDataLoss) {
  ASSERT_TRUE(WriteCheckpoint(store_, "step-1", CorruptionFiles()).ok());
  env_->OverwriteChunk("step-1", 5, store_->GetChunk("step-1", 5)->substr(0, 3));

  absl::StatusOr<std::map<std::string, std::string>> read = ReadCheckpointFiles(*store_, "step-1");
  ASSERT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << read.status();
  EXPECT_THAT(Message(read.status()), HasSubstr("\"weights.bin\" chunk 5 has 3 bytes, the manifest says 7"));
  EXPECT_THAT(Message(read.status()), HasSubstr("truncated"));
}

TEST_P(CheckpointStoreTest, MissingChunkIsDataLoss) {
  ASSERT_TRUE(WriteCheckpoint(store_, "step-1", CorruptionFiles()).ok());
  env_->RemoveChunk("step-1", 1);

  absl::StatusOr<std::map<std::string, std::string>> read = ReadCheckpointFiles(*store_, "step-1");
  ASSERT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << read.status();
  EXPECT_THAT(Message(read.status()), HasSubstr("checkpoint step-1 file \"a\" chunk 1 is missing"));
}

TEST_P(CheckpointStoreTest, UncommittedWriterLeavesAnOrphanThatRemoveOrphansCleans) {
  ASSERT_TRUE(WriteCheckpoint(store_, "step-1", SampleFiles()).ok());
  {
    absl::StatusOr<CheckpointWriter> writer = CheckpointWriter::Begin(store_, "step-2", 7);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE(writer->AddFile("weights.bin", RandomBytes(100, 6)).ok());
  }  // Dropped without Commit: a writer that died.

  EXPECT_THAT(*store_->ListCommitted(), ElementsAre("step-1"));
  EXPECT_EQ(store_->GetManifest("step-2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadCheckpointFiles(*store_, "step-2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetChunk("step-2", 0).ok()) << "the orphan's chunks are there until RemoveOrphans";

  absl::StatusOr<int64_t> removed = store_->RemoveOrphans();
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 1);
  EXPECT_EQ(store_->GetChunk("step-2", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*store_->RemoveOrphans(), 0);
  EXPECT_THAT(*store_->ListCommitted(), ElementsAre("step-1"));
  EXPECT_EQ(*ReadCheckpointFiles(*store_, "step-1"), AsMap(SampleFiles()));

  // The name is free again.
  ASSERT_TRUE(WriteCheckpoint(store_, "step-2", {{"w", "abc"}}).ok());
  EXPECT_THAT(*store_->ListCommitted(), ElementsAre("step-1", "step-2"));
}

TEST_P(CheckpointStoreTest, PruneKeepsTheLastKAndTheNamedOnes) {
  for (int step = 1; step <= 6; ++step) {
    const std::string name = absl::StrFormat("step-%08d", step);
    ASSERT_TRUE(WriteCheckpoint(store_, name, {{"w", RandomBytes(20, step)}}, 7, step).ok());
  }
  ASSERT_TRUE(PruneCheckpoints(*store_, 0, {}).ok());  // keep_latest <= 0: keep everything.
  EXPECT_EQ(store_->ListCommitted()->size(), 6u);

  ASSERT_TRUE(PruneCheckpoints(*store_, 2, {"step-00000002", "no-such-checkpoint"}).ok());
  EXPECT_THAT(*store_->ListCommitted(), ElementsAre("step-00000002", "step-00000005", "step-00000006"));
  EXPECT_EQ(store_->GetChunk("step-00000001", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*store_->RemoveOrphans(), 0) << "Delete leaves no orphan chunks behind";
  EXPECT_TRUE(ReadCheckpointFiles(*store_, "step-00000002").ok());

  ASSERT_TRUE(PruneCheckpoints(*store_, 1, {}).ok());
  EXPECT_THAT(*store_->ListCommitted(), ElementsAre("step-00000006"));
}

TEST_P(CheckpointStoreTest, DeleteRemovesTheCheckpointAndIsOkWhenAbsent) {
  ASSERT_TRUE(WriteCheckpoint(store_, "step-1", SampleFiles()).ok());
  ASSERT_TRUE(store_->Delete("step-1").ok());
  EXPECT_TRUE(store_->ListCommitted()->empty());
  EXPECT_EQ(store_->GetManifest("step-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetChunk("step-1", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->Delete("step-1").ok());
  EXPECT_TRUE(store_->Delete("never-written").ok());
}

TEST_P(CheckpointStoreTest, ReopenedStoreSeesCommittedCheckpoints) {
  ASSERT_TRUE(WriteCheckpoint(store_, "step-1", SampleFiles()).ok());
  ASSERT_TRUE(WriteCheckpoint(store_, "step-2", {{"w", "xyz"}}, 7, 2).ok());
  env_->Close();
  Reopen();
  ASSERT_NE(store_, nullptr);
  EXPECT_THAT(*store_->ListCommitted(), ElementsAre("step-1", "step-2"));
  EXPECT_EQ(*ReadCheckpointFiles(*store_, "step-1"), AsMap(SampleFiles()));
  EXPECT_EQ(ReadCheckpointManifest(*store_, "step-2")->step, 2);
}

TEST_P(CheckpointStoreTest, RejectsBadNamesAndMisuse) {
  for (const char* bad : {"", ".", "..", "a/b", "a b", "x\n", "\xc3\xbc"}) {
    EXPECT_EQ(CheckpointWriter::Begin(store_, bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->PutChunk(bad, 0, "x").code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->CommitManifest(bad, "{}").code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->GetManifest(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->GetChunk(bad, 0).status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->Delete(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(store_->PutChunk("ok", -1, "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckpointWriter::Begin(store_, "ok", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckpointWriter::Begin(nullptr, "ok").status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<CheckpointWriter> writer = CheckpointWriter::Begin(store_, "A-z_0.9", 4);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_EQ(writer->AddFile("", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writer->AddFile("\xff\xfe", "x").code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(writer->AddFile("w", "hello").ok());
  EXPECT_EQ(writer->AddFile("w", "again").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writer->Commit(1, "[1, 2]").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writer->Commit(1, "{").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writer->Commit(-1, "{}").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->ListCommitted()->empty()) << "failed commits commit nothing";
  ASSERT_TRUE(writer->Commit(1, "{}").ok());
  EXPECT_EQ(writer->Commit(1, "{}").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer->AddFile("late", "x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckpointWriter::Begin(store_, "A-z_0.9").status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadCheckpointFiles(*store_, "A-z_0.9")->at("w"), "hello");
}

// Deletes the checkpoint (as another process's GC would) right before the reader's first chunk.
class DeleteOnFirstChunkStore : public CheckpointStore {
 public:
  explicit DeleteOnFirstChunkStore(CheckpointStore* inner) : inner_(inner) {}
  absl::Status PutChunk(absl::string_view c, int64_t i, absl::string_view b) override {
    return inner_->PutChunk(c, i, b);
  }
  absl::Status CommitManifest(absl::string_view c, absl::string_view m) override {
    return inner_->CommitManifest(c, m);
  }
  absl::StatusOr<std::string> GetManifest(absl::string_view c) override { return inner_->GetManifest(c); }
  absl::StatusOr<std::string> GetChunk(absl::string_view c, int64_t i) override {
    if (!deleted_) {
      deleted_ = true;
      absl::Status status = inner_->Delete(c);
      if (!status.ok()) return status;
    }
    return inner_->GetChunk(c, i);
  }
  absl::StatusOr<std::vector<std::string>> ListCommitted() override { return inner_->ListCommitted(); }
  absl::Status Delete(absl::string_view c) override { return inner_->Delete(c); }
  absl::StatusOr<int64_t> RemoveOrphans() override { return inner_->RemoveOrphans(); }

 private:
  CheckpointStore* inner_;
  bool deleted_ = false;
};

TEST_P(CheckpointStoreTest, CheckpointDeletedWhileReadingIsNotFoundNotDataLoss) {
  ASSERT_TRUE(WriteCheckpoint(store_, "step-1", SampleFiles()).ok());
  DeleteOnFirstChunkStore racing(store_);
  absl::StatusOr<std::map<std::string, std::string>> read = ReadCheckpointFiles(racing, "step-1");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound) << read.status();
  EXPECT_THAT(Message(read.status()), HasSubstr("deleted while being read"));
}

// The writer process is SIGKILLed in the middle of a big checkpoint: the store, reopened, has only the earlier
// committed checkpoint, reads it whole, and RemoveOrphans cleans up the partial one.
TEST_P(CheckpointStoreTest, WriterKilledMidCheckpointLeavesOnlyCommittedOnes) {
  ASSERT_TRUE(WriteCheckpoint(store_, "step-1", SampleFiles()).ok());
  env_->Close();  // The RocksDB store allows one process at a time.

  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = Spawn([&]() -> int {
    ::close(ready[0]);
    ::alarm(30);  // Never outlive a parent that failed before killing this process (nor the ctest timeout).
    absl::StatusOr<std::unique_ptr<CheckpointStore>> store = env_->OpenAnother();
    if (!store.ok()) return 2;
    absl::StatusOr<CheckpointWriter> writer = CheckpointWriter::Begin(store->get(), "step-2", 4096);
    if (!writer.ok()) return 3;
    const std::string block = RandomBytes(1 << 20, 7);  // 256 chunks per file.
    if (!writer->AddFile("first.bin", absl::string_view(block).substr(0, 64 << 10)).ok()) return 4;
    const char byte = 1;
    if (::write(ready[1], &byte, 1) != 1) return 5;  // The parent kills from here on, mid-AddFile.
    for (int i = 0; i < 10000; ++i) {
      if (!writer->AddFile(absl::StrCat("more-", i, ".bin"), block).ok()) return 6;
    }
    return writer->Commit(2, "{}").ok() ? 7 : 8;
  });
  ASSERT_GT(child, 0);
  ::close(ready[1]);
  char byte = 0;
  const ssize_t n = ::read(ready[0], &byte, 1);
  ::close(ready[0]);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  const int exit_code = ExitCode(child);
  ASSERT_EQ(n, 1) << "the writer failed before its first chunks, exit code " << exit_code;
  EXPECT_EQ(exit_code, -1) << "the writer was to be killed, not to exit";

  Reopen();
  ASSERT_NE(store_, nullptr);
  EXPECT_THAT(*store_->ListCommitted(), ElementsAre("step-1"));
  EXPECT_EQ(*ReadCheckpointFiles(*store_, "step-1"), AsMap(SampleFiles()));
  EXPECT_TRUE(store_->GetChunk("step-2", 15).ok()) << "the killed writer's first file was stored";
  absl::StatusOr<int64_t> removed = store_->RemoveOrphans();
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 1);
  EXPECT_EQ(store_->GetChunk("step-2", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(*store_->ListCommitted(), ElementsAre("step-1"));
  EXPECT_EQ(*ReadCheckpointFiles(*store_, "step-1"), AsMap(SampleFiles()));
}

std::vector<std::string> StoreKinds() {
#ifdef FTD_TEST_ROCKSDB
  return {"file", "rocksdb"};
#else
  return {"file"};
#endif
}

INSTANTIATE_TEST_SUITE_P(Stores, CheckpointStoreTest, ::testing::ValuesIn(StoreKinds()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// --- The manifest format. ---

CheckpointManifest SampleManifest() {
  CheckpointManifest manifest;
  manifest.name = "step-7";
  manifest.step = 7;
  manifest.metadata_json = R"({"b":1,"a":{"x":[true,null]}})";
  manifest.files = {{"w", 10}, {"empty", 0}, {"v", 3}};
  manifest.chunks = {{0, 0, 4, 11}, {0, 4, 6, 22}, {2, 0, 3, 4294967295u}};
  return manifest;
}

TEST(CheckpointManifestTest, EncodeDecodeRoundTrips) {
  const std::string json = EncodeCheckpointManifest(SampleManifest());
  EXPECT_THAT(json, HasSubstr(R"("format":"ftd-checkpoint/1")"));
  absl::StatusOr<CheckpointManifest> decoded = DecodeCheckpointManifest("step-7", json);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->metadata_json, SampleManifest().metadata_json) << "member order and values kept";
  EXPECT_EQ(decoded->chunks[2].crc32c, 4294967295u);
  EXPECT_EQ(EncodeCheckpointManifest(*decoded), json);
}

TEST(CheckpointManifestTest, DecodeErrorsAreDataLossNamingTheCheckpoint) {
  const std::string good = EncodeCheckpointManifest(SampleManifest());
  auto with = [&](const std::string& from, const std::string& to) {
    std::string json = good;
    const size_t at = json.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) json.replace(at, from.size(), to);
    return json;
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not JSON", "{\"format\": "},
      {"not an object", "[]"},
      {"wrong format", with("ftd-checkpoint/1", "ftd-checkpoint/2")},
      {"other checkpoint's manifest", with(R"("name":"step-7")", R"("name":"step-8")")},
      {"negative step", with(R"("step":7)", R"("step":-7)")},
      {"fractional step", with(R"("step":7)", R"("step":7.5)")},
      {"metadata not an object", with(R"("metadata":{"b":1,"a":{"x":[true,null]}})", R"("metadata":[])")},
      {"no chunks", with(R"("chunks":)", R"("chunkz":)")},
      {"file without name", with(R"({"name":"w",)", R"({)")},
      {"negative file size", with(R"("size_bytes":10)", R"("size_bytes":-10)")},
      {"duplicate file", with(R"("name":"v")", R"("name":"w")")},
      {"gap between chunks", with(R"("offset":4,"size":6)", R"("offset":5,"size":5)")},
      {"overlapping chunks", with(R"("offset":4,"size":6)", R"("offset":3,"size":7)")},
      {"chunk too long", with(R"("offset":4,"size":6)", R"("offset":4,"size":7)")},
      {"file not covered", with(R"("offset":4,"size":6)", R"("offset":4,"size":5)")},
      {"zero-size chunk", with(R"("file":2,"offset":0,"size":3)", R"("file":2,"offset":0,"size":0)")},
      {"file index out of range", with(R"("file":2,)", R"("file":9,)")},
      {"chunk for the wrong file", with(R"("file":2,)", R"("file":1,)")},
      {"crc over 32 bits", with("4294967295", "4294967296")},
      {"negative crc", with("4294967295", "-1")},
  };
  for (const auto& [label, json] : cases) {
    absl::StatusOr<CheckpointManifest> decoded = DecodeCheckpointManifest("step-7", json);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << label << ": " << json;
    EXPECT_THAT(Message(decoded.status()), HasSubstr("checkpoint step-7: manifest")) << label;
  }
}

TEST(CheckpointManifestTest, NonObjectMetadataEncodesAsNullWhichDecodeRejects) {
  CheckpointManifest manifest = SampleManifest();
  manifest.metadata_json = "not json";
  const std::string json = EncodeCheckpointManifest(manifest);
  EXPECT_THAT(json, HasSubstr(R"("metadata":null)"));
  EXPECT_EQ(DecodeCheckpointManifest("step-7", json).status().code(), absl::StatusCode::kDataLoss);
}

// --- The file store's own contract: layout, temp files, other processes, OS errors. ---

TEST(FileCheckpointStoreTest, LayoutIsChunkFilesAndAManifest) {
  FileStoreEnv env;
  CheckpointStore* store = env.Reopen();
  ASSERT_TRUE(WriteCheckpoint(store, "step-1", {{"w", "0123456789"}}, 4).ok());
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(env.dir() + "/step-1")) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_THAT(names, ElementsAre("MANIFEST.json", "chunk-00000000", "chunk-00000001", "chunk-00000002"));
}

TEST(FileCheckpointStoreTest, RemoveOrphansClearsStrayTempFilesAndIgnoresForeignEntries) {
  FileStoreEnv env;
  CheckpointStore* store = env.Reopen();
  ASSERT_TRUE(WriteCheckpoint(store, "step-1", {{"w", "0123456789"}}, 4).ok());
  const std::string stray = env.dir() + "/step-1/chunk-00000007.tmp.12345.0";
  std::ofstream(stray) << "half a chunk";
  std::ofstream(env.dir() + "/README.txt") << "not a checkpoint";
  std::filesystem::create_directory(env.dir() + "/not a checkpoint");

  EXPECT_THAT(*store->ListCommitted(), ElementsAre("step-1"));
  EXPECT_EQ(*store->RemoveOrphans(), 0);
  EXPECT_FALSE(std::filesystem::exists(stray));
  EXPECT_TRUE(std::filesystem::exists(env.dir() + "/README.txt"));
  EXPECT_TRUE(std::filesystem::exists(env.dir() + "/not a checkpoint"));
  EXPECT_EQ(ReadCheckpointFiles(*store, "step-1")->at("w"), "0123456789");
}

TEST(FileCheckpointStoreTest, AnotherProcessReadsWhileThisOneWrites) {
  FileStoreEnv env;
  CheckpointStore* store = env.Reopen();
  ASSERT_TRUE(WriteCheckpoint(store, "step-1", SampleFiles()).ok());
  absl::StatusOr<CheckpointWriter> writer = CheckpointWriter::Begin(store, "step-2", 7);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->AddFile("w", RandomBytes(100, 8)).ok());  // step-2 is in progress.

  const pid_t reader = Spawn([&]() -> int {
    absl::StatusOr<std::unique_ptr<CheckpointStore>> other = env.OpenAnother();
    if (!other.ok()) return 2;
    absl::StatusOr<std::vector<std::string>> names = (*other)->ListCommitted();
    if (!names.ok() || *names != std::vector<std::string>{"step-1"}) return 3;
    absl::StatusOr<std::map<std::string, std::string>> files = ReadCheckpointFiles(**other, "step-1");
    return files.ok() && *files == AsMap(SampleFiles()) ? 0 : 4;
  });
  EXPECT_EQ(ExitCode(reader), 0);
  ASSERT_TRUE(writer->Commit(2, "{}").ok());
}

TEST(FileCheckpointStoreTest, OsErrorsNameThePathAndTheError) {
  TempDir temp;
  const std::string file = temp.file("a-file");
  std::ofstream(file) << "x";
  absl::StatusOr<std::unique_ptr<CheckpointStore>> store = OpenFileCheckpointStore(file);
  EXPECT_FALSE(store.ok());
  EXPECT_THAT(Message(store.status()), HasSubstr(file));
  EXPECT_THAT(Message(store.status()), HasSubstr("Not a directory"));
  EXPECT_EQ(OpenFileCheckpointStore("").status().code(), absl::StatusCode::kInvalidArgument);

  FileStoreEnv env;
  absl::StatusOr<std::string> chunk = env.Reopen()->GetChunk("step-1", 3);
  EXPECT_EQ(chunk.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(chunk.status()), HasSubstr("checkpoint step-1 chunk 3"));
  EXPECT_THAT(Message(chunk.status()), HasSubstr(env.ChunkPath("step-1", 3)));
  EXPECT_THAT(Message(chunk.status()), HasSubstr("No such file or directory"));
}

TEST(FileCheckpointStoreTest, OpenCreatesNestedDirectories) {
  TempDir temp;
  const std::string dir = temp.file("a/b/c/");
  absl::StatusOr<std::unique_ptr<CheckpointStore>> store = OpenFileCheckpointStore(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE(WriteCheckpoint(store->get(), "s", {{"w", "x"}}).ok());
  EXPECT_TRUE(std::filesystem::exists(temp.file("a/b/c/s/MANIFEST.json")));
}

#ifdef FTD_TEST_ROCKSDB
// --- The RocksDB store's own contract: keys, BlobDB, one process, error mapping. ---

std::vector<std::string> Keys(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family) {
  std::vector<std::string> keys;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), family));
  for (it->SeekToFirst(); it->Valid(); it->Next()) keys.push_back(it->key().ToString());
  return keys;
}

TEST(RocksDbCheckpointStoreTest, KeysAreChunkIndicesAndTheManifest) {
  RocksDbStoreEnv env;
  CheckpointStore* store = env.Reopen();
  ASSERT_TRUE(WriteCheckpoint(store, "step-1", {{"w", "0123456789"}}, 4).ok());
  EXPECT_THAT(Keys(env.db(), env.family()),
              ElementsAre("step-1/c/0000000000", "step-1/c/0000000001", "step-1/c/0000000002", "step-1/m"));
}

TEST(RocksDbCheckpointStoreTest, ForeignKeysAndPrefixNamesAreLeftAlone) {
  RocksDbStoreEnv env;
  CheckpointStore* store = env.Reopen();
  // "a", "a.b" and "a-" sort around each other's keys ('-' < '.' < '/').
  ASSERT_TRUE(WriteCheckpoint(store, "a", {{"w", "x"}}).ok());
  ASSERT_TRUE(WriteCheckpoint(store, "a.b", {{"w", "y"}}).ok());
  ASSERT_TRUE(store->PutChunk("a-", 0, "orphan").ok());
  ASSERT_TRUE(env.db()->Put(rocksdb::WriteOptions(), env.family(), "foreign", "v").ok());
  EXPECT_THAT(*store->ListCommitted(), ElementsAre("a", "a.b"));
  EXPECT_EQ(*store->RemoveOrphans(), 1);
  EXPECT_THAT(Keys(env.db(), env.family()),
              ElementsAre("a.b/c/0000000000", "a.b/m", "a/c/0000000000", "a/m", "foreign"));
  ASSERT_TRUE(store->Delete("a").ok());
  EXPECT_THAT(*store->ListCommitted(), ElementsAre("a.b"));
  EXPECT_EQ(ReadCheckpointFiles(*store, "a.b")->at("w"), "y");
}

TEST(RocksDbCheckpointStoreTest, LargeChunksGoToBlobFiles) {
  RocksDbStoreEnv env;
  CheckpointStore* store = env.Reopen();
  const std::string big = RandomBytes(256 << 10, 9);
  ASSERT_TRUE(WriteCheckpoint(store, "step-1", {{"w", big}}, 128 << 10).ok());
  ASSERT_TRUE(env.db()->Flush(rocksdb::FlushOptions(), env.family()).ok());
  uint64_t blob_files = 0;
  ASSERT_TRUE(env.db()->GetIntProperty(env.family(), rocksdb::DB::Properties::kNumBlobFiles, &blob_files));
  EXPECT_GE(blob_files, 1u);
  EXPECT_EQ(ReadCheckpointFiles(*store, "step-1")->at("w"), big);
}

TEST(RocksDbCheckpointStoreTest, OwningFactoryRoundTripsAndHoldsTheLock) {
  TempDir temp;
  const std::string path = temp.file("db");
  {
    absl::StatusOr<std::unique_ptr<CheckpointStore>> store = OpenRocksDbCheckpointStore(path);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE(WriteCheckpoint(store->get(), "step-1", SampleFiles()).ok());
    absl::StatusOr<std::unique_ptr<CheckpointStore>> second = OpenRocksDbCheckpointStore(path);
    EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
    EXPECT_THAT(Message(second.status()), HasSubstr(path));
  }
  absl::StatusOr<std::unique_ptr<CheckpointStore>> store = OpenRocksDbCheckpointStore(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*ReadCheckpointFiles(**store, "step-1"), AsMap(SampleFiles()));
  EXPECT_EQ((*store)->GetChunk("step-1", 10'000'000'000).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FromRocksTest, MapsByWhatTheCallerShouldDo) {
  EXPECT_TRUE(FromRocks(rocksdb::Status::OK()).ok());
  EXPECT_EQ(FromRocks(rocksdb::Status::NotFound("k")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FromRocks(rocksdb::Status::Corruption("bad block")).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(FromRocks(rocksdb::Status::IOError("disk")).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(FromRocks(rocksdb::Status::NoSpace("full")).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FromRocks(rocksdb::Status::InvalidArgument("x")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FromRocks(rocksdb::Status::Busy()).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(FromRocks(rocksdb::Status::NotSupported()).code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(FromRocks(rocksdb::Status::Incomplete()).code(), absl::StatusCode::kInternal);
  EXPECT_THAT(Message(FromRocks(rocksdb::Status::Corruption("bad block"))), HasSubstr("rocksdb: "));
  EXPECT_THAT(Message(FromRocks(rocksdb::Status::Corruption("bad block"))), HasSubstr("bad block"));
}
#endif  // FTD_TEST_ROCKSDB

}  // namespace
}  // namespace ftd
