// JobRuntime's checkpoint transfer (fixture: job_runtime_testing.h): uploads only from rank 0 of the current attempt,
// the best one marked on the job, old ones garbage-collected (save_total_limit) and listed in CheckpointSaved, and a
// round trip through the WorkerService's PutCheckpoint and GetCheckpoint streams.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "coordinator/service/job_runtime.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/job_runtime_testing.h"

namespace ftd {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST_F(JobRuntimeTest, CheckpointsMarkTheBestAndCollectTheOldOnes) {
  QueueAndPlace([](v1::JobSpec& spec) { spec.set_save_total_limit(1); });
  MustReportState(0, v1::RANK_STATE_TRAINING);
  auto saved_events = [&] {
    std::vector<v1::CheckpointSaved> saved;
    for (const v1::JobEvent& event : Events()) {
      if (event.has_checkpoint_saved()) saved.push_back(event.checkpoint_saved());
    }
    return saved;
  };
  const std::string prefix = "jobs/ft-000001/checkpoints/";

  const v1::Checkpoint ten = MustPut(10, /*best=*/true);
  EXPECT_TRUE(ten.is_best());
  EXPECT_EQ(Job().best_checkpoint(), prefix + "step-00000010");
  MustPut(20);
  EXPECT_EQ(Job().best_checkpoint(), prefix + "step-00000010") << "a checkpoint that is not best leaves it";
  MustPut(30);
  const v1::Checkpoint forty = MustPut(40, /*best=*/true);
  EXPECT_EQ(Job().best_checkpoint(), forty.name());
  MustPut(50, false, /*final_result=*/true);

  const std::vector<v1::CheckpointSaved> saved = saved_events();
  ASSERT_EQ(saved.size(), 5u);
  EXPECT_EQ(saved[0].checkpoint().name(), prefix + "step-00000010");
  EXPECT_TRUE(saved[0].checkpoint().is_best());
  EXPECT_THAT(saved[0].deleted_checkpoints(), IsEmpty());
  EXPECT_THAT(saved[1].deleted_checkpoints(), IsEmpty()) << "step 10 is the best, step 20 the newest";
  EXPECT_THAT(saved[2].deleted_checkpoints(), ElementsAre(prefix + "step-00000020"));
  EXPECT_THAT(saved[3].deleted_checkpoints(), ElementsAre(prefix + "step-00000010", prefix + "step-00000030"));
  EXPECT_EQ(saved[4].checkpoint().name(), prefix + "final");
  EXPECT_THAT(saved[4].deleted_checkpoints(), IsEmpty());

  absl::StatusOr<std::unique_ptr<CheckpointStore>> checkpoints = store_->Checkpoints(kJobId);
  ASSERT_TRUE(checkpoints.ok()) << checkpoints.status();
  absl::StatusOr<std::vector<std::string>> committed = (*checkpoints)->ListCommitted();
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_THAT(*committed, ElementsAre("final", "step-00000040"));
}

TEST_F(JobRuntimeTest, UploadsAreRefusedUnlessFromRankZeroOfTheCurrentAttempt) {
  QueueAndPlace();
  absl::StatusOr<v1::Checkpoint> other_attempt = Put(5, {{"a.bin", "abc"}}, false, false, /*attempt=*/1);
  EXPECT_EQ(other_attempt.status().code(), absl::StatusCode::kFailedPrecondition) << other_attempt.status();

  v1::PutCheckpointHeader header;
  header.set_job(kJob);
  header.set_rank(1);
  header.mutable_checkpoint()->set_step(5);
  EXPECT_EQ(runtime_->PutCheckpoint(header, [](v1::PutCheckpointRequest&) { return false; }).status().code(),
            absl::StatusCode::kInvalidArgument);
  header.set_rank(0);
  header.set_job("jobs/ft-000404");
  EXPECT_EQ(runtime_->PutCheckpoint(header, [](v1::PutCheckpointRequest&) { return false; }).status().code(),
            absl::StatusCode::kNotFound);

  ASSERT_TRUE(Transition(*store_, kJobId, {v1::JOB_STATE_CANCELLED}).ok());
  absl::StatusOr<v1::Checkpoint> ended = Put(5, {{"a.bin", "abc"}}, false, false, /*attempt=*/0);
  EXPECT_EQ(ended.status().code(), absl::StatusCode::kFailedPrecondition) << ended.status();
  for (const v1::JobEvent& event : Events()) EXPECT_FALSE(event.has_checkpoint_saved());
}

TEST_F(JobRuntimeTest, CheckpointsRoundTripThroughTheWorkerService) {
  QueueAndPlace();
  const std::vector<StoredFile> files = {{"adapter_model.safetensors", RandomBytes(333, 1)},
                                         {"trainer.json", "{\"step\": 25}"}};
  // Up through the gRPC client stream.
  v1::Checkpoint uploaded;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    std::unique_ptr<grpc::ClientWriter<v1::PutCheckpointRequest>> writer = stub_->PutCheckpoint(&context, &uploaded);
    v1::PutCheckpointRequest first;
    v1::PutCheckpointHeader& header = *first.mutable_header();
    header.set_job(kJob);
    header.set_rank(0);
    header.mutable_checkpoint()->set_step(25);
    for (const StoredFile& file : files) {
      v1::FileEntry& entry = *header.mutable_checkpoint()->add_files();
      entry.set_path(file.path);
      entry.set_size_bytes(static_cast<int64_t>(file.bytes.size()));
      entry.set_sha256(Sha256Hex(file.bytes));
    }
    ASSERT_TRUE(writer->Write(first));
    for (size_t i = 0; i < files.size(); ++i) {
      for (size_t offset = 0; offset < files[i].bytes.size(); offset += 128) {
        v1::PutCheckpointRequest request;
        v1::DataChunk& chunk = *request.mutable_chunk();
        chunk.set_file_index(static_cast<int32_t>(i));
        chunk.set_offset(static_cast<int64_t>(offset));
        chunk.set_data(files[i].bytes.substr(offset, 128));
        chunk.set_crc32c(Crc32c(chunk.data()));
        ASSERT_TRUE(writer->Write(request));
      }
    }
    ASSERT_TRUE(writer->WritesDone());
    const grpc::Status status = writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(uploaded.name(), "jobs/ft-000001/checkpoints/step-00000025");
  EXPECT_EQ(uploaded.size_bytes(), 333 + static_cast<int64_t>(files[1].bytes.size()));

  // Down through the server stream, in the runtime's 100-byte chunks, from the start and from an offset.
  for (int64_t offset : {int64_t{0}, int64_t{250}}) {
    SCOPED_TRACE(absl::StrCat("offset ", offset));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::GetCheckpointRequest request;
    request.set_name(uploaded.name());
    request.set_offset_bytes(offset);
    std::unique_ptr<grpc::ClientReader<v1::GetCheckpointResponse>> reader = stub_->GetCheckpoint(&context, request);
    v1::GetCheckpointResponse message;
    ASSERT_TRUE(reader->Read(&message));
    ASSERT_TRUE(message.has_checkpoint());
    EXPECT_EQ(message.checkpoint().name(), uploaded.name());
    EXPECT_EQ(message.checkpoint().files_size(), 2);
    std::string concatenated;
    while (reader->Read(&message)) {
      ASSERT_TRUE(message.has_chunk());
      EXPECT_LE(message.chunk().data().size(), 100u);
      EXPECT_EQ(message.chunk().crc32c(), Crc32c(message.chunk().data()));
      concatenated += message.chunk().data();
    }
    const grpc::Status status = reader->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(concatenated, (files[0].bytes + files[1].bytes).substr(static_cast<size_t>(offset)));
  }

  // Names the runtime cannot serve.
  auto get = [&](const std::string& name, int64_t offset) {
    v1::GetCheckpointRequest request;
    request.set_name(name);
    request.set_offset_bytes(offset);
    return runtime_->GetCheckpoint(request, [](const v1::GetCheckpointResponse&) { return true; });
  };
  EXPECT_EQ(get("jobs/ft-000001/step-00000025", 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(get("jobs/ft-000001/checkpoints/../x", 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(get("jobs/ft-000001/checkpoints/step-00000026", 0).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(get(uploaded.name(), 100000).code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace ftd
