// Helpers shared by the CoordinatorStore tests: jobs and events as the coordinator would build them, a checkpoint
// writer, and the store's DB opened directly (the store closed) to plant what the store itself never writes.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/checkpoint/checkpoint_io.h"
#include "common/checkpoint/rocksdb_checkpoint_store.h"
#include "coordinator/store/coordinator_store.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"

namespace ftd {

inline v1::JobEvent StateEvent(v1::JobState from, v1::JobState to, absl::string_view reason) {
  v1::JobEvent event;
  event.mutable_state_change()->set_from_state(from);
  event.mutable_state_change()->set_to_state(to);
  event.mutable_state_change()->set_reason(std::string(reason));
  return event;
}

inline v1::JobEvent LogEvent(absl::string_view text) {
  v1::JobEvent event;
  event.mutable_log()->set_text(std::string(text));
  return event;
}

inline v1::JobEvent MetricsEvent(int64_t step) {
  v1::JobEvent event;
  event.mutable_metrics()->set_step(step);
  event.mutable_metrics()->set_train_loss(1.0 / static_cast<double>(step + 1));
  return event;
}

// A freshly submitted job: QUEUED, with a spec worth storing.
inline v1::Job QueuedJob(absl::string_view id) {
  v1::Job job;
  job.set_name(absl::StrCat("jobs/", id));
  job.set_state(v1::JOB_STATE_QUEUED);
  job.mutable_spec()->set_base_model("/models/llama-3.2-1b");
  job.set_request_id(absl::StrCat("req-", id));
  return job;
}

inline absl::StatusOr<v1::Job> Submit(CoordinatorStore& store, absl::string_view id) {
  return store.CreateJob(QueuedJob(id), {StateEvent(v1::JOB_STATE_UNSPECIFIED, v1::JOB_STATE_QUEUED, "Submitted")});
}

// Moves the job through `states` in one update, one StateChange each, plus `extra` events after them.
inline absl::StatusOr<v1::Job> Transition(CoordinatorStore& store, absl::string_view id,
                                          const std::vector<v1::JobState>& states,
                                          std::vector<v1::JobEvent> extra = {}) {
  return store.UpdateJob(id, [&](v1::Job& job, std::vector<v1::JobEvent>& events) {
    for (v1::JobState to : states) {
      events.push_back(StateEvent(job.state(), to, "Test"));
      if (to == v1::JOB_STATE_RESTARTING) job.set_restart_count(job.restart_count() + 1);
      job.set_state(to);
    }
    for (v1::JobEvent& event : extra) events.push_back(std::move(event));
    return absl::OkStatus();
  });
}

inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string bytes(n, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

// One file, cut into `chunk_bytes` chunks, committed.
inline absl::Status WriteCheckpoint(CheckpointStore& store, const std::string& name, const std::string& bytes,
                                    int64_t chunk_bytes = 1024) {
  absl::StatusOr<CheckpointWriter> writer = CheckpointWriter::Begin(&store, name, chunk_bytes);
  if (!writer.ok()) return writer.status();
  absl::Status status = writer->AddFile("weights.bin", bytes);
  if (!status.ok()) return status;
  return writer->Commit(1, "{}");
}

// The store's DB opened with every family it has, for tests that look at keys or plant corrupt values. The store
// must be closed first (RocksDB allows one opener).
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    std::vector<std::string> names;
    rocksdb::Status status = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names);
    EXPECT_TRUE(status.ok()) << status.ToString();
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& name : names) {
      families.emplace_back(name, name == kCheckpointColumnFamily ? CheckpointColumnFamilyOptions()
                                                                  : rocksdb::ColumnFamilyOptions());
    }
    status = rocksdb::DB::Open(rocksdb::DBOptions(), path, families, &handles_, &db_);
    EXPECT_TRUE(status.ok()) << status.ToString();
    names_ = std::move(names);
  }
  ~RawDb() {
    if (db_ == nullptr) return;
    for (rocksdb::ColumnFamilyHandle* handle : handles_) EXPECT_TRUE(db_->DestroyColumnFamilyHandle(handle).ok());
    EXPECT_TRUE(db_->Close().ok());
    delete db_;
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  bool ok() const { return db_ != nullptr; }
  const std::vector<std::string>& family_names() const { return names_; }

  void Put(const std::string& family, const std::string& key, const std::string& value) {
    const rocksdb::Status status = db_->Put(rocksdb::WriteOptions(), Handle(family), key, value);
    EXPECT_TRUE(status.ok()) << status.ToString();
  }

  std::vector<std::string> Keys(const std::string& family) {
    std::vector<std::string> keys;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), Handle(family)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) keys.push_back(it->key().ToString());
    return keys;
  }

 private:
  rocksdb::ColumnFamilyHandle* Handle(const std::string& family) {
    for (size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == family) return handles_[i];
    }
    ADD_FAILURE() << "no column family " << family;
    return db_->DefaultColumnFamily();
  }

  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::vector<std::string> names_;
};

}  // namespace ftd
