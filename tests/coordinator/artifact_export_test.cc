// StreamArtifact (DownloadArtifact's logic) over a real CoordinatorStore in a temp directory: a "final" result
// holding a real tiny PEFT adapter for the tiny_llama fixture, training checkpoints, and every rule of the proto
// contract (kinds, sources, offsets, chunk sizes, CRC32C, DATA_LOSS, CANCELLED); plus ListWorkerInfos.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/checkpoint/checkpoint_io.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "coordinator/service/artifact_export.h"
#include "coordinator/service/job_updates.h"
#include "coordinator/service/worker_listing.h"
#include "coordinator/store/coordinator_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/file_io.h"
#include "model/model_config.h"
#include "model/peft_adapter.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kTinyLlama = absl::StrCat(FTD_SOURCE_DIR, "/tests/fixtures/model_io/tiny_llama");
constexpr char kJobId[] = "ft-000001";
constexpr char kJobName[] = "jobs/ft-000001";

std::string RandomBytes(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
  return bytes;
}

// What a download delivered: the manifest and the chunks, reassembled with each chunk's CRC32C checked.
struct Received {
  absl::Status status;
  std::vector<v1::DownloadArtifactResponse> messages;

  const v1::ArtifactManifest& manifest() const { return messages.front().manifest(); }
  std::vector<v1::DataChunk> chunks() const {
    std::vector<v1::DataChunk> chunks;
    for (size_t i = 1; i < messages.size(); ++i) chunks.push_back(messages[i].chunk());
    return chunks;
  }
  // The bytes of every chunk, concatenated in stream order.
  std::string Concatenated() const {
    std::string bytes;
    for (const v1::DataChunk& chunk : chunks()) bytes += chunk.data();
    return bytes;
  }
  // Path -> contents, checking that chunks tile each file from offset 0 in order.
  std::map<std::string, std::string> Files() const {
    std::map<std::string, std::string> files;
    for (const v1::FileEntry& file : manifest().files()) files[file.path()];
    for (const v1::DataChunk& chunk : chunks()) {
      EXPECT_EQ(Crc32c(chunk.data()), chunk.crc32c());
      std::string& contents = files[manifest().files(chunk.file_index()).path()];
      EXPECT_EQ(chunk.offset(), static_cast<int64_t>(contents.size()));
      contents += chunk.data();
    }
    return files;
  }
};

class ArtifactExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(tmp_.file("db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    absl::StatusOr<std::unique_ptr<CheckpointStore>> checkpoints = store_->Checkpoints(kJobId);
    ASSERT_TRUE(checkpoints.ok()) << checkpoints.status();
    checkpoints_ = *std::move(checkpoints);

    job_.set_name(kJobName);
    job_.set_state(v1::JOB_STATE_RUNNING);
    job_.mutable_resolved_spec()->set_method(v1::METHOD_LORA);
    job_.mutable_resolved_spec()->set_base_model(kTinyLlama);

    // A real adapter for the tiny model, with B made non-zero so that merging changes the weights.
    absl::StatusOr<LlamaConfig> config = LoadLlamaConfig(kTinyLlama + "/config.json");
    ASSERT_TRUE(config.ok()) << config.status();
    LoraConfig lora;
    lora.r = 4;
    lora.lora_alpha = 8;
    lora.base_model_name_or_path = kTinyLlama;
    absl::StatusOr<LoraAdapter> adapter = InitLoraAdapter(lora, *config, /*seed=*/7);
    ASSERT_TRUE(adapter.ok()) << adapter.status();
    std::mt19937_64 rng(11);
    std::normal_distribution<float> normal(0.0f, 0.05f);
    for (auto& [key, pair] : adapter->weights) {
      std::vector<float> values(static_cast<size_t>(NumElements(pair.b.shape)));
      for (float& v : values) v = normal(rng);
      pair.b = Tensor::FromF32(pair.b.shape, values);
    }
    adapter_dir_ = tmp_.file("adapter");
    ASSERT_TRUE(WriteLoraAdapter(adapter_dir_, *adapter).ok());
    for (const char* name : {"adapter_config.json", "adapter_model.safetensors"}) {
      absl::StatusOr<std::string> bytes = ReadFileToString(JoinPath(adapter_dir_, name));
      ASSERT_TRUE(bytes.ok()) << bytes.status();
      final_files_[name] = *bytes;
    }
    final_files_["provenance.json"] = R"({"seed": 7, "ftd_version": "0.1.0"})";
    final_files_["result.json"] = R"({"final_step": 30})";
  }

  // The final result as rank 0 uploads it, provenance first (the export puts it after the model's files). Small
  // store chunks, so that files span several.
  void WriteFinal() {
    absl::StatusOr<CheckpointWriter> writer = CheckpointWriter::Begin(checkpoints_.get(), "final", 4096);
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (const char* name : {"provenance.json", "adapter_config.json", "adapter_model.safetensors", "result.json"}) {
      ASSERT_TRUE(writer->AddFile(name, final_files_.at(name)).ok());
    }
    ASSERT_TRUE(writer->Commit(30, "{}").ok());
  }

  void WriteStep(int64_t step, size_t bytes) {
    const std::string name = absl::StrFormat("step-%08d", step);
    absl::StatusOr<CheckpointWriter> writer = CheckpointWriter::Begin(checkpoints_.get(), name, 64 << 10);
    ASSERT_TRUE(writer.ok()) << writer.status();
    step_files_[step] = {RandomBytes(bytes, static_cast<uint64_t>(step)), RandomBytes(bytes / 2, step + 1000u)};
    ASSERT_TRUE(writer->AddFile("trained.safetensors", step_files_[step].first).ok());
    ASSERT_TRUE(writer->AddFile("optimizer.safetensors", step_files_[step].second).ok());
    ASSERT_TRUE(writer->Commit(step, "{}").ok());
  }

  Received Download(const std::string& source, v1::ArtifactKind kind, int64_t offset = 0, int32_t chunk_size = 0) {
    v1::DownloadArtifactRequest request;
    request.set_source(source);
    request.set_kind(kind);
    request.set_offset_bytes(offset);
    request.set_chunk_size_bytes(chunk_size);
    Received received;
    received.status = StreamArtifact(*store_, job_, request, scratch_.path(), [&](const auto& message) {
      received.messages.push_back(message);
      return true;
    });
    if (received.status.ok()) {
      EXPECT_FALSE(received.messages.empty());
      EXPECT_TRUE(received.messages.front().has_manifest());
    }
    return received;
  }

  TempDir tmp_{"ftd_artifact_export"};
  TempDir scratch_{"ftd_artifact_scratch"};
  std::unique_ptr<CoordinatorStore> store_;
  std::unique_ptr<CheckpointStore> checkpoints_;
  v1::Job job_;
  std::string adapter_dir_;
  std::map<std::string, std::string> final_files_;
  std::map<int64_t, std::pair<std::string, std::string>> step_files_;
};

std::vector<std::string> Paths(const v1::ArtifactManifest& manifest) {
  std::vector<std::string> paths;
  for (const v1::FileEntry& file : manifest.files()) paths.push_back(file.path());
  return paths;
}

TEST_F(ArtifactExportTest, AdapterRoundTripsByteForByte) {
  WriteFinal();
  const Received received = Download(kJobName, v1::ARTIFACT_KIND_ADAPTER);
  ASSERT_TRUE(received.status.ok()) << received.status;
  const v1::ArtifactManifest& manifest = received.manifest();
  EXPECT_EQ(manifest.kind(), v1::ARTIFACT_KIND_ADAPTER);
  EXPECT_EQ(manifest.checkpoint(), "jobs/ft-000001/checkpoints/final");
  EXPECT_EQ(manifest.suggested_directory(), "ft-000001-adapter");
  EXPECT_THAT(Paths(manifest),
              ElementsAre("adapter_config.json", "adapter_model.safetensors", "provenance.json", "result.json"));
  int64_t total = 0;
  for (const v1::FileEntry& file : manifest.files()) {
    EXPECT_EQ(file.size_bytes(), static_cast<int64_t>(final_files_.at(file.path()).size())) << file.path();
    EXPECT_EQ(file.sha256(), Sha256Hex(final_files_.at(file.path()))) << file.path();
    total += file.size_bytes();
  }
  EXPECT_EQ(manifest.total_size_bytes(), total);
  EXPECT_EQ(received.Files(), final_files_);
  // The same through the final checkpoint's own name.
  const Received named = Download("jobs/ft-000001/checkpoints/final", v1::ARTIFACT_KIND_ADAPTER);
  ASSERT_TRUE(named.status.ok()) << named.status;
  EXPECT_EQ(named.Files(), final_files_);
}

TEST_F(ArtifactExportTest, OffsetResumesInTheConcatenatedFiles) {
  WriteFinal();
  const Received whole = Download(kJobName, v1::ARTIFACT_KIND_ADAPTER);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  const std::string all = whole.Concatenated();
  const int64_t first_size = whole.manifest().files(0).size_bytes();
  for (const int64_t offset : {int64_t{1}, first_size, first_size + 100, static_cast<int64_t>(all.size()) - 1}) {
    const Received resumed = Download(kJobName, v1::ARTIFACT_KIND_ADAPTER, offset);
    ASSERT_TRUE(resumed.status.ok()) << resumed.status;
    EXPECT_EQ(resumed.manifest().total_size_bytes(), static_cast<int64_t>(all.size()));
    EXPECT_EQ(resumed.Concatenated(), all.substr(static_cast<size_t>(offset))) << offset;
  }
  const Received at_second = Download(kJobName, v1::ARTIFACT_KIND_ADAPTER, first_size + 100);
  ASSERT_FALSE(at_second.chunks().empty());
  EXPECT_EQ(at_second.chunks().front().file_index(), 1);
  EXPECT_EQ(at_second.chunks().front().offset(), 100);

  const Received at_end = Download(kJobName, v1::ARTIFACT_KIND_ADAPTER, static_cast<int64_t>(all.size()));
  ASSERT_TRUE(at_end.status.ok()) << at_end.status;
  EXPECT_EQ(at_end.messages.size(), 1u);  // The manifest only.
  const Received beyond = Download(kJobName, v1::ARTIFACT_KIND_ADAPTER, static_cast<int64_t>(all.size()) + 1);
  EXPECT_EQ(beyond.status.code(), absl::StatusCode::kOutOfRange) << beyond.status;
  EXPECT_EQ(Download(kJobName, v1::ARTIFACT_KIND_ADAPTER, -1).status.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ArtifactExportTest, ChunkSizeIsClamped) {
  EXPECT_EQ(*ArtifactChunkSize(0), 1 << 20);
  EXPECT_EQ(*ArtifactChunkSize(1), 64 << 10);
  EXPECT_EQ(*ArtifactChunkSize(100 << 10), 100 << 10);
  EXPECT_EQ(*ArtifactChunkSize(64 << 20), (4 << 20) - (64 << 10));
  EXPECT_EQ(ArtifactChunkSize(-1).status().code(), absl::StatusCode::kInvalidArgument);

  WriteStep(10, 300 << 10);  // 300 KiB and 150 KiB files.
  for (const auto& [requested, expected] : std::vector<std::pair<int32_t, size_t>>{
           {1, 64 << 10}, {0, 1 << 20}, {100 << 10, 100 << 10}}) {
    const Received received = Download(kJobName, v1::ARTIFACT_KIND_CHECKPOINT, 0, requested);
    ASSERT_TRUE(received.status.ok()) << received.status;
    for (const v1::DataChunk& chunk : received.chunks()) {
      const int64_t size = received.manifest().files(chunk.file_index()).size_bytes();
      // Every chunk is full-size but each file's last.
      if (chunk.offset() + static_cast<int64_t>(chunk.data().size()) < size) {
        EXPECT_EQ(chunk.data().size(), expected) << requested;
      } else {
        EXPECT_LE(chunk.data().size(), expected) << requested;
      }
    }
    EXPECT_EQ(received.Files().at("trained.safetensors"), step_files_[10].first);
  }
}

TEST_F(ArtifactExportTest, CorruptChunkIsDataLoss) {
  WriteFinal();
  // Chunk 2 is inside adapter_model.safetensors (provenance.json and adapter_config.json are one chunk each).
  absl::StatusOr<std::string> chunk = checkpoints_->GetChunk("final", 2);
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  (*chunk)[10] ^= 0x40;
  ASSERT_TRUE(checkpoints_->PutChunk("final", 2, *chunk).ok());
  const Received received = Download(kJobName, v1::ARTIFACT_KIND_ADAPTER);
  EXPECT_EQ(received.status.code(), absl::StatusCode::kDataLoss) << received.status;
  EXPECT_THAT(received.status.message(), HasSubstr("adapter_model.safetensors"));
  EXPECT_THAT(received.status.message(), HasSubstr("jobs/ft-000001/checkpoints/final"));
  EXPECT_TRUE(received.messages.empty());  // Verified before the manifest goes out.
}

TEST_F(ArtifactExportTest, NoFinalResultYetIsFailedPrecondition) {
  WriteStep(10, 1000);
  for (const v1::ArtifactKind kind : {v1::ARTIFACT_KIND_ADAPTER, v1::ARTIFACT_KIND_MERGED_MODEL}) {
    const Received received = Download(kJobName, kind);
    EXPECT_EQ(received.status.code(), absl::StatusCode::kFailedPrecondition) << received.status;
    EXPECT_EQ(received.status.message(), "job jobs/ft-000001 has no final result yet (state RUNNING)");
  }
}

TEST_F(ArtifactExportTest, BadRequestsAreInvalidArgument) {
  WriteFinal();
  EXPECT_EQ(Download(kJobName, v1::ARTIFACT_KIND_UNSPECIFIED).status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Download(kJobName, static_cast<v1::ArtifactKind>(99)).status.code(),
            absl::StatusCode::kInvalidArgument);
  for (const char* source : {"", "ft-000001", "jobs/ft-000001/", "jobs/ft-000001/checkpoints",
                             "jobs/ft-000001/checkpoints/..", "jobs/ft-000001/other/final", "jobs/ft-000002"}) {
    EXPECT_EQ(Download(source, v1::ARTIFACT_KIND_ADAPTER).status.code(), absl::StatusCode::kInvalidArgument)
        << source;
  }
  EXPECT_EQ(Download(kJobName, v1::ARTIFACT_KIND_ADAPTER, 0, -5).status.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ArtifactExportTest, CheckpointKindServesBestElseNewest) {
  job_.set_state(v1::JOB_STATE_QUEUED);
  const Received none = Download(kJobName, v1::ARTIFACT_KIND_CHECKPOINT);
  EXPECT_EQ(none.status.code(), absl::StatusCode::kFailedPrecondition) << none.status;
  EXPECT_THAT(none.status.message(), HasSubstr("has no checkpoint yet (state QUEUED)"));

  WriteStep(10, 5000);
  WriteStep(20, 7000);
  WriteFinal();  // Not a training checkpoint: never the default.
  Received newest = Download(kJobName, v1::ARTIFACT_KIND_CHECKPOINT);
  ASSERT_TRUE(newest.status.ok()) << newest.status;
  EXPECT_EQ(newest.manifest().checkpoint(), "jobs/ft-000001/checkpoints/step-00000020");
  EXPECT_EQ(newest.manifest().suggested_directory(), "ft-000001-step-20-checkpoint");
  EXPECT_THAT(Paths(newest.manifest()), ElementsAre("trained.safetensors", "optimizer.safetensors"));
  EXPECT_EQ(newest.Files().at("optimizer.safetensors"), step_files_[20].second);

  job_.set_best_checkpoint("jobs/ft-000001/checkpoints/step-00000010");
  Received best = Download(kJobName, v1::ARTIFACT_KIND_CHECKPOINT);
  ASSERT_TRUE(best.status.ok()) << best.status;
  EXPECT_EQ(best.manifest().checkpoint(), "jobs/ft-000001/checkpoints/step-00000010");
  EXPECT_EQ(best.Files().at("trained.safetensors"), step_files_[10].first);

  Received named = Download("jobs/ft-000001/checkpoints/step-00000020", v1::ARTIFACT_KIND_CHECKPOINT);
  ASSERT_TRUE(named.status.ok()) << named.status;
  EXPECT_EQ(named.manifest().checkpoint(), "jobs/ft-000001/checkpoints/step-00000020");
  Received final_as_checkpoint = Download("jobs/ft-000001/checkpoints/final", v1::ARTIFACT_KIND_CHECKPOINT);
  ASSERT_TRUE(final_as_checkpoint.status.ok()) << final_as_checkpoint.status;
  EXPECT_EQ(final_as_checkpoint.manifest().suggested_directory(), "ft-000001-final-checkpoint");

  const Received missing = Download("jobs/ft-000001/checkpoints/step-00000099", v1::ARTIFACT_KIND_CHECKPOINT);
  EXPECT_EQ(missing.status.code(), absl::StatusCode::kNotFound) << missing.status;
  EXPECT_THAT(missing.status.message(), HasSubstr("jobs/ft-000001/checkpoints/step-00000099"));
}

TEST_F(ArtifactExportTest, AdapterOrMergedFromATrainingCheckpointIsRefused) {
  WriteStep(10, 1000);
  WriteFinal();
  for (const v1::ArtifactKind kind : {v1::ARTIFACT_KIND_ADAPTER, v1::ARTIFACT_KIND_MERGED_MODEL}) {
    const Received received = Download("jobs/ft-000001/checkpoints/step-00000010", kind);
    EXPECT_EQ(received.status.code(), absl::StatusCode::kFailedPrecondition) << received.status;
    EXPECT_THAT(received.status.message(), HasSubstr("kind checkpoint"));
  }
}

TEST_F(ArtifactExportTest, MergedModelEqualsMergeLoraAdapter) {
  WriteFinal();
  const std::string expected_dir = tmp_.file("expected");
  ASSERT_TRUE(MergeLoraAdapter(kTinyLlama, adapter_dir_, expected_dir).ok());
  std::map<std::string, std::string> expected;
  for (const fs::directory_entry& entry : fs::directory_iterator(expected_dir)) {
    expected[entry.path().filename().string()] = *ReadFileToString(entry.path().string());
  }
  ASSERT_TRUE(expected.count("model.safetensors"));
  ASSERT_NE(expected.at("model.safetensors"), *ReadFileToString(kTinyLlama + "/model.safetensors"));

  const Received received = Download(kJobName, v1::ARTIFACT_KIND_MERGED_MODEL, 0, 1);
  ASSERT_TRUE(received.status.ok()) << received.status;
  EXPECT_EQ(received.manifest().suggested_directory(), "ft-000001-merged");
  EXPECT_EQ(received.manifest().checkpoint(), "jobs/ft-000001/checkpoints/final");
  std::vector<std::string> paths = Paths(received.manifest());
  ASSERT_GE(paths.size(), 2u);
  EXPECT_EQ(paths[paths.size() - 2], "provenance.json");
  EXPECT_EQ(paths.back(), "result.json");
  std::map<std::string, std::string> files = received.Files();
  EXPECT_EQ(files.at("provenance.json"), final_files_.at("provenance.json"));
  files.erase("provenance.json");
  files.erase("result.json");
  EXPECT_EQ(files, expected);
  for (const v1::FileEntry& file : received.manifest().files()) {
    EXPECT_EQ(file.sha256(), Sha256Hex(received.Files().at(file.path()))) << file.path();
  }
  EXPECT_TRUE(fs::is_empty(scratch_.path())) << "the merge's temp directory was left behind";
}

TEST_F(ArtifactExportTest, QloraServesItsAdapterAndMergesIntoAnUnquantisedBaseOnly) {
  job_.mutable_resolved_spec()->set_method(v1::METHOD_QLORA);
  job_.mutable_resolved_spec()->set_bnb_4bit_use_double_quant(true);
  WriteFinal();
  const Received adapter = Download(kJobName, v1::ARTIFACT_KIND_ADAPTER);
  ASSERT_TRUE(adapter.status.ok()) << adapter.status;
  EXPECT_EQ(adapter.Files(), final_files_);  // A plain PEFT adapter, as rank 0 wrote it.

  // Into the fp32 base, as a lora job's adapter merges.
  const std::string expected_dir = tmp_.file("expected");
  ASSERT_TRUE(MergeLoraAdapter(kTinyLlama, adapter_dir_, expected_dir).ok());
  const Received merged = Download(kJobName, v1::ARTIFACT_KIND_MERGED_MODEL);
  ASSERT_TRUE(merged.status.ok()) << merged.status;
  EXPECT_EQ(merged.Files().at("model.safetensors"), *ReadFileToString(JoinPath(expected_dir, "model.safetensors")));

  // A base that is itself bitsandbytes 4-bit: refused, naming the cause, nothing left in the scratch directory.
  job_.mutable_resolved_spec()->set_base_model(
      absl::StrCat(FTD_SOURCE_DIR, "/tests/fixtures/quant/tiny_llama_nf4_dq"));
  const Received refused = Download(kJobName, v1::ARTIFACT_KIND_MERGED_MODEL);
  EXPECT_EQ(refused.status.code(), absl::StatusCode::kFailedPrecondition) << refused.status;
  EXPECT_THAT(refused.status.message(), HasSubstr("bitsandbytes 4-bit directory"));
  EXPECT_THAT(refused.status.message(), HasSubstr("tiny_llama_nf4_dq"));
  EXPECT_TRUE(fs::is_empty(scratch_.path()));
  // Its adapter still exports.
  EXPECT_TRUE(Download(kJobName, v1::ARTIFACT_KIND_ADAPTER).status.ok());
}

TEST_F(ArtifactExportTest, FullFineTuningServesTheModelAndHasNoAdapter) {
  job_.mutable_resolved_spec()->set_method(v1::METHOD_FULL);
  const Received adapter = Download(kJobName, v1::ARTIFACT_KIND_ADAPTER);
  EXPECT_EQ(adapter.status.code(), absl::StatusCode::kFailedPrecondition) << adapter.status;
  EXPECT_THAT(adapter.status.message(), HasSubstr("method full"));

  final_files_ = {{"config.json", "{}"}, {"model.safetensors", RandomBytes(200000, 3)},
                  {"tokenizer.json", "{\"model\": {}}"}, {"provenance.json", "{}"}};
  absl::StatusOr<CheckpointWriter> writer = CheckpointWriter::Begin(checkpoints_.get(), "final");
  ASSERT_TRUE(writer.ok());
  for (const char* name : {"provenance.json", "config.json", "model.safetensors", "tokenizer.json"}) {
    ASSERT_TRUE(writer->AddFile(name, final_files_.at(name)).ok());
  }
  ASSERT_TRUE(writer->Commit(30, "{}").ok());
  const Received merged = Download(kJobName, v1::ARTIFACT_KIND_MERGED_MODEL);
  ASSERT_TRUE(merged.status.ok()) << merged.status;
  EXPECT_THAT(Paths(merged.manifest()),
              ElementsAre("config.json", "model.safetensors", "tokenizer.json", "provenance.json"));
  EXPECT_EQ(merged.Files(), final_files_);
  EXPECT_EQ(merged.manifest().suggested_directory(), "ft-000001-merged");
}

TEST_F(ArtifactExportTest, ClientGoneIsCancelled) {
  WriteFinal();
  v1::DownloadArtifactRequest request;
  request.set_source(kJobName);
  request.set_kind(v1::ARTIFACT_KIND_ADAPTER);
  int sent = 0;
  const absl::Status status = StreamArtifact(*store_, job_, request, scratch_.path(), [&](const auto&) {
    return ++sent < 2;  // The manifest goes; the first chunk finds the client gone.
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(sent, 2);
}

TEST(WorkerListingTest, LeasedWorkersWithTheirRanks) {
  TempDir tmp("ftd_worker_listing");
  absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(tmp.file("db"));
  ASSERT_TRUE(store.ok()) << store.status();
  for (const char* id : {"w-2", "w-1", "w-3"}) {
    StoredWorker worker;
    worker.worker_id = id;
    worker.registration.set_host(absl::StrCat("host-", id));
    ASSERT_TRUE((*store)->PutWorker(worker).ok());
  }
  const absl::Time now = absl::FromUnixSeconds(1735787045);
  v1::Job job;
  job.set_name("jobs/ft-000007");
  job.set_restart_count(2);
  std::vector<v1::JobEvent> events;
  RecordStateChange(job, events, v1::JOB_STATE_QUEUED, "Submitted", "", now);
  RecordStateChange(job, events, v1::JOB_STATE_RUNNING, "Placed", "", now);
  for (const auto& [rank, worker, device] : std::vector<std::tuple<int, const char*, const char*>>{
           {1, "workers/w-1", "cuda:1"}, {0, "workers/w-1", "cuda:0"}, {2, "workers/w-2", "cpu"},
           {3, "workers/w-9", "cpu"}}) {
    v1::RankPlacement& placement = *job.add_placement();
    placement.set_rank(rank);
    placement.set_worker(worker);
    placement.set_device(device);
  }
  ASSERT_TRUE((*store)->CreateJob(job, events).ok());

  // w-3 is stored but holds no lease; w-9 holds ranks but is not stored (lost).
  const std::map<std::string, absl::Time> leases = {{"w-1", now + absl::Seconds(20)}, {"w-2", now}};
  absl::StatusOr<std::vector<v1::WorkerInfo>> workers = ListWorkerInfos(**store, leases);
  ASSERT_TRUE(workers.ok()) << workers.status();
  ASSERT_EQ(workers->size(), 2u);
  const v1::WorkerInfo& w1 = (*workers)[0];
  EXPECT_EQ(w1.name(), "workers/w-1");
  EXPECT_EQ(w1.registration().host(), "host-w-1");
  EXPECT_EQ(w1.lease_expire_time().seconds(), 1735787065);
  ASSERT_EQ(w1.ranks_size(), 2);
  EXPECT_EQ(w1.ranks(0).rank(), 0);
  EXPECT_EQ(w1.ranks(0).device(), "cuda:0");
  EXPECT_EQ(w1.ranks(0).job(), "jobs/ft-000007");
  EXPECT_EQ(w1.ranks(0).attempt(), 2);
  EXPECT_EQ(w1.ranks(1).rank(), 1);
  EXPECT_EQ((*workers)[1].name(), "workers/w-2");
  ASSERT_EQ((*workers)[1].ranks_size(), 1);
  EXPECT_EQ((*workers)[1].ranks(0).rank(), 2);
}

}  // namespace
}  // namespace ftd
