// The coordinator's checkpoint transfer over a real CoordinatorStore in a temp directory (one job's CheckpointStore
// view): uploads checked chunk by chunk (offsets, CRC32C, sizes, SHA-256) and stored only when all of it checks out,
// retries and other attempts' copies of a step, the stream back to a resuming rank, garbage collection and the
// newest step checkpoint.
#include "coordinator/service/checkpoint_transfer.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/checkpoint/checkpoint_io.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "coordinator/store/coordinator_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_store_testing.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kJob[] = "jobs/ft-000001";

struct UploadFile {
  std::string path;
  std::string bytes;
};

// An upload as rank 0 sends it: the header, then every file cut into `chunk_bytes` chunks with their CRC32C.
struct Upload {
  v1::PutCheckpointHeader header;
  std::vector<v1::PutCheckpointRequest> chunks;
};

Upload MakeUpload(int64_t step, int32_t attempt, const std::vector<UploadFile>& files, int64_t chunk_bytes) {
  Upload upload;
  upload.header.set_job(kJob);
  upload.header.set_attempt(attempt);
  upload.header.set_rank(0);
  v1::Checkpoint& checkpoint = *upload.header.mutable_checkpoint();
  checkpoint.set_step(step);
  checkpoint.set_epoch(0.5);
  checkpoint.set_kind(v1::CHECKPOINT_KIND_ADAPTER);
  checkpoint.mutable_metrics()->set_step(step);
  checkpoint.mutable_metrics()->set_train_loss(1.25);
  for (size_t i = 0; i < files.size(); ++i) {
    v1::FileEntry& entry = *checkpoint.add_files();
    entry.set_path(files[i].path);
    entry.set_size_bytes(static_cast<int64_t>(files[i].bytes.size()));
    entry.set_sha256(Sha256Hex(files[i].bytes));
    for (size_t offset = 0; offset < files[i].bytes.size(); offset += static_cast<size_t>(chunk_bytes)) {
      v1::DataChunk& chunk = *upload.chunks.emplace_back().mutable_chunk();
      chunk.set_file_index(static_cast<int32_t>(i));
      chunk.set_offset(static_cast<int64_t>(offset));
      chunk.set_data(files[i].bytes.substr(offset, static_cast<size_t>(chunk_bytes)));
      chunk.set_crc32c(Crc32c(chunk.data()));
    }
  }
  return upload;
}

// Two files (the second longer than one chunk several times over), cut into 100-byte chunks.
std::vector<UploadFile> TwoFiles(uint64_t seed) {
  return {{"adapter_model.safetensors", RandomBytes(1000, seed)}, {"optimizer.bin", RandomBytes(777, seed + 1)}};
}

class CheckpointTransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(dir_.file("store"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    absl::StatusOr<std::unique_ptr<CheckpointStore>> checkpoints = store_->Checkpoints("ft-000001");
    ASSERT_TRUE(checkpoints.ok()) << checkpoints.status();
    checkpoints_ = *std::move(checkpoints);
  }

  absl::StatusOr<v1::Checkpoint> Store(const Upload& upload) {
    size_t next_chunk = 0;
    absl::StatusOr<v1::Checkpoint> stored = StoreUploadedCheckpoint(
        *checkpoints_, kJob, upload.header,
        [&](v1::PutCheckpointRequest& request) {
          if (next_chunk == upload.chunks.size()) return false;
          request = upload.chunks[next_chunk++];
          return true;
        },
        clock_.Now());
    return stored;
  }

  v1::Checkpoint MustStore(const Upload& upload) {
    absl::StatusOr<v1::Checkpoint> stored = Store(upload);
    EXPECT_TRUE(stored.ok()) << stored.status();
    return stored.ok() ? *stored : v1::Checkpoint();
  }

  // A one-file checkpoint of step `step` (64 bytes seeded by the step).
  v1::Checkpoint MustStoreStep(int64_t step, int32_t attempt = 0, bool final_result = false) {
    Upload upload = MakeUpload(step, attempt, {{"weights.bin", RandomBytes(64, static_cast<uint64_t>(step))}}, 64);
    upload.header.set_final_result(final_result);
    return MustStore(upload);
  }

  std::vector<std::string> Committed() {
    absl::StatusOr<std::vector<std::string>> names = checkpoints_->ListCommitted();
    EXPECT_TRUE(names.ok()) << names.status();
    return names.ok() ? *names : std::vector<std::string>{};
  }

  // Every message SendStoredCheckpoint sends.
  absl::Status Send(absl::string_view checkpoint, int64_t offset, int64_t chunk_bytes,
                    std::vector<v1::GetCheckpointResponse>* messages) {
    return SendStoredCheckpoint(*checkpoints_, kJob, checkpoint, offset, chunk_bytes,
                                [&](const v1::GetCheckpointResponse& message) {
                                  messages->push_back(message);
                                  return true;
                                });
  }

  TempDir dir_{"checkpoint_transfer_test"};
  FakeClock clock_;
  std::unique_ptr<CoordinatorStore> store_;
  std::unique_ptr<CheckpointStore> checkpoints_;
};

TEST_F(CheckpointTransferTest, StoresAChunkedUploadOfTwoFiles) {
  const std::vector<UploadFile> files = TwoFiles(1);
  Upload upload = MakeUpload(20, 0, files, 100);
  ASSERT_EQ(upload.chunks.size(), 18u);  // 10 + 8 chunks.
  // Whitespace, member order and non-ASCII text that a JSON re-encoding would change.
  const std::string trainer_state =
      "{ \"data_position\" : 12345,\n  \"rng\": \"a\\u00e9\xc3\xa9\", \"optimizer_step\":20 , \"x\": 1.50e-3 }";
  upload.header.mutable_checkpoint()->set_trainer_state(trainer_state);
  upload.header.mutable_checkpoint()->set_name("jobs/other/checkpoints/ignored");
  upload.header.mutable_checkpoint()->set_size_bytes(1);  // Output only: recomputed.

  const v1::Checkpoint stored = MustStore(upload);
  EXPECT_EQ(stored.name(), "jobs/ft-000001/checkpoints/step-00000020");
  EXPECT_EQ(stored.step(), 20);
  EXPECT_EQ(stored.attempt(), 0);
  EXPECT_EQ(stored.size_bytes(), 1777);
  EXPECT_EQ(stored.kind(), v1::CHECKPOINT_KIND_ADAPTER);
  EXPECT_DOUBLE_EQ(stored.epoch(), 0.5);
  EXPECT_DOUBLE_EQ(stored.metrics().train_loss(), 1.25);
  EXPECT_EQ(stored.create_time().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_GE(stored.chunk_count(), 2);
  EXPECT_FALSE(stored.is_best());
  ASSERT_EQ(stored.files_size(), 2);
  EXPECT_EQ(stored.files(0).path(), "adapter_model.safetensors");
  EXPECT_EQ(stored.files(1).sha256(), Sha256Hex(files[1].bytes));
  EXPECT_EQ(stored.trainer_state(), trainer_state) << "trainer_state is opaque and comes back byte-exact";

  EXPECT_THAT(Committed(), ElementsAre("step-00000020"));
  absl::StatusOr<std::map<std::string, std::string>> read = ReadCheckpointFiles(*checkpoints_, "step-00000020");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->at("adapter_model.safetensors"), files[0].bytes);
  EXPECT_EQ(read->at("optimizer.bin"), files[1].bytes);

  absl::StatusOr<v1::Checkpoint> reread = ReadStoredCheckpoint(*checkpoints_, kJob, "step-00000020");
  ASSERT_TRUE(reread.ok()) << reread.status();
  EXPECT_EQ(reread->trainer_state(), trainer_state);
  EXPECT_EQ(reread->name(), stored.name());
  EXPECT_EQ(reread->size_bytes(), 1777);
  EXPECT_EQ(ReadStoredCheckpoint(*checkpoints_, kJob, "step-00000021").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(CheckpointTransferTest, AnEmptyFileNeedsNoChunk) {
  const v1::Checkpoint stored =
      MustStore(MakeUpload(3, 0, {{"empty.json", ""}, {"weights.bin", RandomBytes(10, 3)}}, 4));
  EXPECT_EQ(stored.size_bytes(), 10);
  absl::StatusOr<std::map<std::string, std::string>> read = ReadCheckpointFiles(*checkpoints_, "step-00000003");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->at("empty.json"), "");
}

// A bad upload: what is wrong with it, the code and a text the error must name.
struct BadUpload {
  std::string name;
  std::function<void(Upload&)> spoil;
  absl::StatusCode code;
  std::string names;
};

TEST_F(CheckpointTransferTest, ABadUploadIsRefusedAndLeavesNothingBehind) {
  MustStoreStep(10);
  const std::vector<BadUpload> cases = {
      // Chunks 0..9 are the first file, 10..17 the second: every spoil hits the second file, after the first one's
      // chunks were written, so a missed clean-up would leave orphans.
      {"gap", [](Upload& u) { u.chunks.erase(u.chunks.begin() + 12); }, absl::StatusCode::kInvalidArgument,
       "optimizer.bin"},
      {"overlap", [](Upload& u) { u.chunks[12].mutable_chunk()->set_offset(150); },
       absl::StatusCode::kInvalidArgument, "optimizer.bin"},
      {"crc", [](Upload& u) { u.chunks[13].mutable_chunk()->mutable_data()->at(5) ^= 1; },
       absl::StatusCode::kDataLoss, "optimizer.bin"},
      {"sha256", [](Upload& u) { u.header.mutable_checkpoint()->mutable_files(1)->set_sha256(Sha256Hex("other")); },
       absl::StatusCode::kDataLoss, "optimizer.bin"},
      {"short", [](Upload& u) { u.chunks.pop_back(); }, absl::StatusCode::kInvalidArgument, "optimizer.bin"},
      {"long", [](Upload& u) { u.header.mutable_checkpoint()->mutable_files(1)->set_size_bytes(700); },
       absl::StatusCode::kInvalidArgument, "optimizer.bin"},
      {"first file short", [](Upload& u) { u.header.mutable_checkpoint()->mutable_files(0)->set_size_bytes(1001); },
       absl::StatusCode::kInvalidArgument, "adapter_model.safetensors"},
      {"back to an earlier file",
       [](Upload& u) {
         const v1::PutCheckpointRequest earlier_file = u.chunks[3];
         u.chunks.insert(u.chunks.begin() + 11, earlier_file);
       },
       absl::StatusCode::kInvalidArgument, "file_index"},
      {"second header", [](Upload& u) { *u.chunks[11].mutable_header() = u.header; },
       absl::StatusCode::kInvalidArgument, "header"},
      {"absolute path", [](Upload& u) { u.header.mutable_checkpoint()->mutable_files(0)->set_path("/etc/passwd"); },
       absl::StatusCode::kInvalidArgument, "/etc/passwd"},
      {"dot dot", [](Upload& u) { u.header.mutable_checkpoint()->mutable_files(0)->set_path("../x"); },
       absl::StatusCode::kInvalidArgument, "../x"},
      {"no files", [](Upload& u) { u.header.mutable_checkpoint()->clear_files(); u.chunks.clear(); },
       absl::StatusCode::kInvalidArgument, "files"},
      {"trainer_state not an object", [](Upload& u) { u.header.mutable_checkpoint()->set_trainer_state("[1]"); },
       absl::StatusCode::kInvalidArgument, "trainer_state"},
  };
  for (const BadUpload& bad : cases) {
    SCOPED_TRACE(bad.name);
    Upload upload = MakeUpload(20, 0, TwoFiles(2), 100);
    bad.spoil(upload);
    absl::StatusOr<v1::Checkpoint> stored = Store(upload);
    EXPECT_EQ(stored.status().code(), bad.code) << stored.status();
    EXPECT_THAT(stored.status().message(), HasSubstr(bad.names));
    EXPECT_THAT(Committed(), ElementsAre("step-00000010"));
    absl::StatusOr<int64_t> orphans = checkpoints_->RemoveOrphans();
    ASSERT_TRUE(orphans.ok()) << orphans.status();
    EXPECT_EQ(*orphans, 0) << "the failed upload's chunks were left behind";
  }
  // The earlier checkpoint is intact, and the good version of the upload still goes in.
  absl::StatusOr<std::map<std::string, std::string>> read = ReadCheckpointFiles(*checkpoints_, "step-00000010");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->at("weights.bin"), RandomBytes(64, 10));
  EXPECT_EQ(MustStore(MakeUpload(20, 0, TwoFiles(2), 100)).name(), "jobs/ft-000001/checkpoints/step-00000020");
}

TEST_F(CheckpointTransferTest, AGapNamesTheFileAndTheOffsets) {
  Upload upload = MakeUpload(20, 0, TwoFiles(4), 100);
  upload.chunks.erase(upload.chunks.begin() + 2);  // The first file jumps from 200 to 300.
  absl::StatusOr<v1::Checkpoint> stored = Store(upload);
  EXPECT_EQ(stored.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(stored.status().message(), HasSubstr("adapter_model.safetensors"));
  EXPECT_THAT(stored.status().message(), HasSubstr("offset 300"));
  EXPECT_THAT(stored.status().message(), HasSubstr("want 200"));
}

TEST_F(CheckpointTransferTest, ARetriedUploadReturnsTheStoredOne) {
  const Upload upload = MakeUpload(20, 0, TwoFiles(5), 100);
  const v1::Checkpoint first = MustStore(upload);
  clock_.Advance(absl::Minutes(1));
  absl::StatusOr<v1::Checkpoint> again = Store(upload);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->name(), first.name());
  EXPECT_EQ(again->create_time().seconds(), first.create_time().seconds()) << "not stored a second time";
  EXPECT_THAT(Committed(), ElementsAre("step-00000020"));
  absl::StatusOr<int64_t> orphans = checkpoints_->RemoveOrphans();
  ASSERT_TRUE(orphans.ok()) << orphans.status();
  EXPECT_EQ(*orphans, 0);
}

TEST_F(CheckpointTransferTest, TheSameStepFromAnotherAttemptIsStoredApart) {
  MustStore(MakeUpload(20, 0, TwoFiles(6), 100));
  const std::vector<UploadFile> second_files = TwoFiles(7);
  const v1::Checkpoint second = MustStore(MakeUpload(20, 2, second_files, 100));
  EXPECT_EQ(second.name(), "jobs/ft-000001/checkpoints/step-00000020-a2");
  EXPECT_EQ(second.attempt(), 2);
  EXPECT_EQ(second.step(), 20);
  EXPECT_THAT(Committed(), ElementsAre("step-00000020", "step-00000020-a2"));
  absl::StatusOr<std::map<std::string, std::string>> read = ReadCheckpointFiles(*checkpoints_, "step-00000020-a2");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->at("optimizer.bin"), second_files[1].bytes);

  // A retry of attempt 2 finds its own copy; attempt 2 with other contents again has nowhere to go.
  EXPECT_EQ(MustStore(MakeUpload(20, 2, second_files, 100)).name(), second.name());
  absl::StatusOr<v1::Checkpoint> clash = Store(MakeUpload(20, 2, TwoFiles(8), 100));
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kAlreadyExists) << clash.status();
  EXPECT_THAT(Committed(), ElementsAre("step-00000020", "step-00000020-a2"));
}

TEST_F(CheckpointTransferTest, AFinalResultIsStoredAsFinalAndNeverBest) {
  Upload upload = MakeUpload(100, 1, TwoFiles(9), 100);
  upload.header.set_final_result(true);
  upload.header.set_best(true);
  const v1::Checkpoint stored = MustStore(upload);
  EXPECT_EQ(stored.name(), "jobs/ft-000001/checkpoints/final");
  EXPECT_FALSE(stored.is_best());
  EXPECT_EQ(stored.attempt(), 1);
  EXPECT_THAT(Committed(), ElementsAre("final"));

  Upload best = MakeUpload(50, 1, TwoFiles(10), 100);
  best.header.set_best(true);
  EXPECT_TRUE(MustStore(best).is_best());

  // A later attempt's final result replaces the earlier one: one "final" per job, always the newest attempt's.
  Upload later = MakeUpload(100, 2, TwoFiles(12), 100);
  later.header.set_final_result(true);
  EXPECT_EQ(MustStore(later).attempt(), 2);
  EXPECT_THAT(Committed(), ElementsAre("final", "step-00000050"));
  absl::StatusOr<v1::Checkpoint> read = ReadStoredCheckpoint(*checkpoints_, kJob, "final");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->attempt(), 2);
}

TEST_F(CheckpointTransferTest, SendReassemblesTheFiles) {
  const std::vector<UploadFile> files = TwoFiles(11);
  const v1::Checkpoint stored = MustStore(MakeUpload(20, 0, files, 100));

  std::vector<v1::GetCheckpointResponse> messages;
  ASSERT_TRUE(Send("step-00000020", 0, 64, &messages).ok());
  ASSERT_GE(messages.size(), 2u);
  ASSERT_TRUE(messages[0].has_checkpoint());
  EXPECT_EQ(messages[0].checkpoint().name(), stored.name());
  EXPECT_EQ(messages[0].checkpoint().size_bytes(), 1777);
  std::vector<std::string> rebuilt(2);
  for (size_t i = 1; i < messages.size(); ++i) {
    ASSERT_TRUE(messages[i].has_chunk()) << i;
    const v1::DataChunk& chunk = messages[i].chunk();
    EXPECT_LE(chunk.data().size(), 64u);
    EXPECT_EQ(chunk.crc32c(), Crc32c(chunk.data()));
    ASSERT_LT(chunk.file_index(), 2);
    EXPECT_EQ(chunk.offset(), static_cast<int64_t>(rebuilt[chunk.file_index()].size())) << "no gap, no overlap";
    rebuilt[chunk.file_index()] += chunk.data();
  }
  EXPECT_EQ(messages.size(), 1u + 16u + 13u);  // ceil(1000/64) + ceil(777/64).
  EXPECT_EQ(rebuilt[0], files[0].bytes);
  EXPECT_EQ(rebuilt[1], files[1].bytes);
}

TEST_F(CheckpointTransferTest, SendSkipsTheFirstOffsetBytes) {
  const std::vector<UploadFile> files = TwoFiles(12);
  MustStore(MakeUpload(20, 0, files, 100));

  // 1050 bytes in: the first file is skipped, the second starts at its byte 50.
  std::vector<v1::GetCheckpointResponse> messages;
  ASSERT_TRUE(Send("step-00000020", 1050, 300, &messages).ok());
  ASSERT_EQ(messages.size(), 4u);  // The Checkpoint, then 727 bytes in 300-byte chunks.
  EXPECT_EQ(messages[1].chunk().file_index(), 1);
  EXPECT_EQ(messages[1].chunk().offset(), 50);
  std::string rest;
  for (size_t i = 1; i < messages.size(); ++i) rest += messages[i].chunk().data();
  EXPECT_EQ(rest, files[1].bytes.substr(50));

  // Inside the first file.
  messages.clear();
  ASSERT_TRUE(Send("step-00000020", 999, 1000, &messages).ok());
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[1].chunk().file_index(), 0);
  EXPECT_EQ(messages[1].chunk().offset(), 999);
  EXPECT_EQ(messages[1].chunk().data(), files[0].bytes.substr(999));
  EXPECT_EQ(messages[2].chunk().file_index(), 1);
  EXPECT_EQ(messages[2].chunk().offset(), 0);

  // Exactly at the end: the Checkpoint and nothing else.
  messages.clear();
  ASSERT_TRUE(Send("step-00000020", 1777, 64, &messages).ok());
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_TRUE(messages[0].has_checkpoint());
}

TEST_F(CheckpointTransferTest, SendRefusesOffsetsBeyondTheEndAndStopsForAGoneClient) {
  MustStore(MakeUpload(20, 0, TwoFiles(13), 100));
  std::vector<v1::GetCheckpointResponse> messages;
  absl::Status beyond = Send("step-00000020", 1778, 64, &messages);
  EXPECT_EQ(beyond.code(), absl::StatusCode::kOutOfRange) << beyond;
  EXPECT_THAT(messages, IsEmpty());
  EXPECT_EQ(Send("step-00000020", -1, 64, &messages).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Send("step-00000020", 0, 0, &messages).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Send("step-00000099", 0, 64, &messages).code(), absl::StatusCode::kNotFound);

  for (int accepted : {0, 3}) {
    int sent = 0;
    const absl::Status status = SendStoredCheckpoint(*checkpoints_, kJob, "step-00000020", 0, 64,
                                                     [&](const v1::GetCheckpointResponse&) {
                                                       return sent++ < accepted;
                                                     });
    EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
    EXPECT_EQ(sent, accepted + 1) << "nothing is sent after the client went away";
  }
}

TEST_F(CheckpointTransferTest, GarbageCollectionKeepsTheNewestTheBestAndTheFinalResult) {
  for (int64_t step : {10, 20, 30, 40, 50}) MustStoreStep(step);
  MustStoreStep(60, 0, /*final_result=*/true);
  ASSERT_THAT(Committed(), ElementsAre("final", "step-00000010", "step-00000020", "step-00000030", "step-00000040",
                                       "step-00000050"));

  ASSERT_TRUE(CollectCheckpointGarbage(*checkpoints_, 0, "").ok());
  EXPECT_EQ(Committed().size(), 6u) << "keep_latest 0 keeps all";
  ASSERT_TRUE(CollectCheckpointGarbage(*checkpoints_, 2, "step-00000020").ok());
  EXPECT_THAT(Committed(), ElementsAre("final", "step-00000020", "step-00000040", "step-00000050"));
  ASSERT_TRUE(CollectCheckpointGarbage(*checkpoints_, 1, "step-00000050").ok());
  EXPECT_THAT(Committed(), ElementsAre("final", "step-00000050")) << "the best among the newest costs nothing";
  ASSERT_TRUE(CollectCheckpointGarbage(*checkpoints_, 1, "").ok());
  EXPECT_THAT(Committed(), ElementsAre("final", "step-00000050"));
  absl::StatusOr<std::map<std::string, std::string>> read = ReadCheckpointFiles(*checkpoints_, "step-00000050");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->at("weights.bin"), RandomBytes(64, 50));
}

TEST_F(CheckpointTransferTest, NewestStepCheckpointIgnoresTheFinalResult) {
  absl::StatusOr<std::optional<std::string>> newest = NewestStepCheckpoint(*checkpoints_);
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_EQ(*newest, std::nullopt);

  MustStoreStep(500, 0, /*final_result=*/true);
  newest = NewestStepCheckpoint(*checkpoints_);
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_EQ(*newest, std::nullopt) << "\"final\" is not a training checkpoint";

  MustStoreStep(9);
  MustStoreStep(120);
  MustStoreStep(30);
  newest = NewestStepCheckpoint(*checkpoints_);
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_EQ(*newest, "step-00000120");

  MustStoreStep(120, 1);  // Attempt 1 saved step 120 again.
  newest = NewestStepCheckpoint(*checkpoints_);
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_EQ(*newest, "step-00000120-a1");
  EXPECT_EQ(StepCheckpointName(7), "step-00000007");
}

}  // namespace
}  // namespace ftd
