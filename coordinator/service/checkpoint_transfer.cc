// StoreUploadedCheckpoint / SendStoredCheckpoint / CollectCheckpointGarbage over checkpoint_io (see
// checkpoint_transfer.h).
#include "coordinator/service/checkpoint_transfer.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/checkpoint/checkpoint_io.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "coordinator/service/job_updates.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

using json = nlohmann::json;

constexpr absl::string_view kStepPrefix = "step-";
constexpr char kMetadataKey[] = "uploaded";  // The manifest metadata's member holding the Checkpoint as JSON.

absl::StatusOr<std::string> CheckpointMetadata(const v1::Checkpoint& checkpoint) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(checkpoint, &text, options).ok()) {
    return absl::InternalError("cannot encode the checkpoint's metadata as JSON");
  }
  json metadata = json::object();
  metadata[kMetadataKey] = json::parse(text);
  return metadata.dump();
}

bool SameFiles(const v1::Checkpoint& a, const v1::Checkpoint& b) {
  if (a.files_size() != b.files_size()) return false;
  for (int i = 0; i < a.files_size(); ++i) {
    if (a.files(i).path() != b.files(i).path() || a.files(i).sha256() != b.files(i).sha256() ||
        a.files(i).size_bytes() != b.files(i).size_bytes()) {
      return false;
    }
  }
  return true;
}

// Checks the header's file list: paths relative, unique, sizes non-negative, digests present.
absl::Status CheckFileList(const v1::Checkpoint& checkpoint) {
  if (checkpoint.files().empty()) return absl::InvalidArgumentError("checkpoint.files: at least one file");
  std::map<std::string, int> seen;
  for (int i = 0; i < checkpoint.files_size(); ++i) {
    const v1::FileEntry& file = checkpoint.files(i);
    const std::string field = absl::StrCat("checkpoint.files[", i, "]");
    if (file.path().empty() || file.path()[0] == '/' || absl::StrContains(file.path(), "..")) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".path: want a relative path without \"..\", got \"",
                                                     file.path(), "\""));
    }
    if (!seen.emplace(file.path(), i).second) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".path: \"", file.path(), "\" listed twice"));
    }
    if (file.size_bytes() < 0) return absl::InvalidArgumentError(absl::StrCat(field, ".size_bytes: negative"));
    if (file.sha256().size() != 64) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".sha256: want 64 hex digits, got \"", file.sha256(),
                                                     "\""));
    }
  }
  return absl::OkStatus();
}

// Reads the chunks and writes the files through `writer`, checking everything StoreUploadedCheckpoint promises.
absl::Status ReceiveFiles(const v1::Checkpoint& checkpoint, CheckpointWriter& writer,
                          absl::FunctionRef<bool(v1::PutCheckpointRequest&)> next) {
  int file_index = 0;
  std::string bytes;
  auto finish_files_up_to = [&](int end) -> absl::Status {
    // Closes the current file and every (empty) file before `end`.
    while (file_index < end) {
      const v1::FileEntry& file = checkpoint.files(file_index);
      if (static_cast<int64_t>(bytes.size()) != file.size_bytes()) {
        return absl::InvalidArgumentError(absl::StrCat("file ", file.path(), ": received ", bytes.size(),
                                                       " bytes, the header says ", file.size_bytes()));
      }
      const std::string digest = Sha256Hex(bytes);
      if (digest != file.sha256()) {
        return absl::DataLossError(absl::StrCat("file ", file.path(), ": SHA-256 ", digest, " != the header's ",
                                                file.sha256()));
      }
      RETURN_IF_ERROR(writer.AddFile(file.path(), bytes));
      bytes.clear();
      ++file_index;
    }
    return absl::OkStatus();
  };
  v1::PutCheckpointRequest request;
  while (next(request)) {
    if (!request.has_chunk()) return absl::InvalidArgumentError("a second header: every later message is a chunk");
    const v1::DataChunk& chunk = request.chunk();
    if (chunk.file_index() < file_index || chunk.file_index() >= checkpoint.files_size()) {
      return absl::InvalidArgumentError(absl::StrCat("chunk.file_index ", chunk.file_index(), ": want ", file_index,
                                                     "..", checkpoint.files_size() - 1, " (files in order)"));
    }
    RETURN_IF_ERROR(finish_files_up_to(chunk.file_index()));
    const v1::FileEntry& file = checkpoint.files(file_index);
    if (chunk.offset() != static_cast<int64_t>(bytes.size())) {
      return absl::InvalidArgumentError(absl::StrCat("file ", file.path(), ": chunk at offset ", chunk.offset(),
                                                     ", want ", bytes.size(), " (a gap or an overlap)"));
    }
    if (Crc32c(chunk.data()) != chunk.crc32c()) {
      return absl::DataLossError(absl::StrCat("file ", file.path(), ": CRC32C mismatch in the chunk at offset ",
                                              chunk.offset()));
    }
    if (static_cast<int64_t>(bytes.size() + chunk.data().size()) > file.size_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat("file ", file.path(), ": more bytes than the header's ",
                                                     file.size_bytes()));
    }
    bytes.append(chunk.data());
  }
  return finish_files_up_to(checkpoint.files_size());
}

}  // namespace

std::string StepCheckpointName(int64_t step) { return absl::StrFormat("step-%08d", step); }

absl::StatusOr<v1::Checkpoint> ReadStoredCheckpoint(CheckpointStore& store, absl::string_view job_name,
                                                    absl::string_view checkpoint) {
  ASSIGN_OR_RETURN(const CheckpointManifest manifest, ReadCheckpointManifest(store, checkpoint));
  const json metadata = json::parse(manifest.metadata_json, nullptr, /*allow_exceptions=*/false);
  v1::Checkpoint result;
  if (!metadata.is_object() || !metadata.contains(kMetadataKey) ||
      !google::protobuf::util::JsonStringToMessage(metadata[kMetadataKey].dump(), &result).ok()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", job_name, "/checkpoints/", checkpoint,
                                            ": its metadata is not an uploaded checkpoint's"));
  }
  result.set_name(absl::StrCat(job_name, "/checkpoints/", checkpoint));
  result.set_chunk_count(static_cast<int32_t>(manifest.chunks.size()));
  return result;
}

absl::StatusOr<v1::Checkpoint> StoreUploadedCheckpoint(CheckpointStore& store, absl::string_view job_name,
                                                       const v1::PutCheckpointHeader& header,
                                                       absl::FunctionRef<bool(v1::PutCheckpointRequest&)> next,
                                                       absl::Time now) {
  v1::Checkpoint checkpoint = header.checkpoint();
  RETURN_IF_ERROR(CheckFileList(checkpoint));
  if (checkpoint.step() < 0) return absl::InvalidArgumentError("checkpoint.step: negative");
  if (!checkpoint.trainer_state().empty() &&
      !json::parse(checkpoint.trainer_state(), nullptr, /*allow_exceptions=*/false).is_object()) {
    return absl::InvalidArgumentError("checkpoint.trainer_state: not a JSON object");
  }
  checkpoint.set_attempt(header.attempt());
  checkpoint.clear_name();
  checkpoint.clear_chunk_count();
  checkpoint.set_is_best(header.best() && !header.final_result());
  *checkpoint.mutable_create_time() = ToProtoTime(now);
  int64_t size = 0;
  for (const v1::FileEntry& file : checkpoint.files()) size += file.size_bytes();
  checkpoint.set_size_bytes(size);

  std::string name = header.final_result() ? std::string(kFinalCheckpointName) : StepCheckpointName(checkpoint.step());
  if (header.final_result()) {
    // One final result per job: an earlier attempt's (it uploaded, then lost a rank before DONE) gives way.
    absl::StatusOr<v1::Checkpoint> earlier = ReadStoredCheckpoint(store, job_name, name);
    if (earlier.ok() && earlier->attempt() != header.attempt()) RETURN_IF_ERROR(store.Delete(name));
  }
  for (const std::string& candidate : {name, absl::StrCat(name, "-a", header.attempt())}) {
    absl::StatusOr<v1::Checkpoint> existing = ReadStoredCheckpoint(store, job_name, candidate);
    if (absl::IsNotFound(existing.status())) {
      name = candidate;
      break;
    }
    RETURN_IF_ERROR(existing.status());
    if (existing->attempt() == header.attempt() && SameFiles(*existing, checkpoint)) return *existing;  // A retry.
    if (candidate != name) {
      return absl::AlreadyExistsError(absl::StrCat(job_name, "/checkpoints/", candidate,
                                                   " is already stored with other contents"));
    }
  }
  ASSIGN_OR_RETURN(CheckpointWriter writer, CheckpointWriter::Begin(&store, name));
  absl::Status received = ReceiveFiles(checkpoint, writer, next);
  if (received.ok()) {
    ASSIGN_OR_RETURN(const std::string metadata, CheckpointMetadata(checkpoint));
    received = writer.Commit(checkpoint.step(), metadata);
  }
  if (!received.ok()) {
    if (absl::StatusOr<int64_t> removed = store.RemoveOrphans(); !removed.ok()) {
      return absl::Status(received.code(), absl::StrCat(received.message(), " (and removing its chunks failed: ",
                                                        removed.status().message(), ")"));
    }
    return received;
  }
  return ReadStoredCheckpoint(store, job_name, name);
}

absl::Status CollectCheckpointGarbage(CheckpointStore& store, int64_t keep_latest, absl::string_view best) {
  if (keep_latest <= 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(const std::vector<std::string> names, store.ListCommitted());
  std::vector<std::string> steps;
  for (const std::string& name : names) {
    if (absl::StartsWith(name, kStepPrefix)) steps.push_back(name);
  }
  if (static_cast<int64_t>(steps.size()) <= keep_latest) return absl::OkStatus();
  for (size_t i = 0; i + static_cast<size_t>(keep_latest) < steps.size(); ++i) {
    if (steps[i] == best) continue;
    RETURN_IF_ERROR(store.Delete(steps[i]));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> NewestStepCheckpoint(CheckpointStore& store) {
  ASSIGN_OR_RETURN(const std::vector<std::string> names, store.ListCommitted());
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (absl::StartsWith(*it, kStepPrefix)) return *it;
  }
  return std::nullopt;
}

absl::Status SendStoredCheckpoint(CheckpointStore& store, absl::string_view job_name, absl::string_view checkpoint,
                                  int64_t offset_bytes, int64_t chunk_bytes,
                                  absl::FunctionRef<bool(const v1::GetCheckpointResponse&)> send) {
  if (offset_bytes < 0) return absl::InvalidArgumentError("offset_bytes: negative");
  if (chunk_bytes <= 0) return absl::InvalidArgumentError("chunk size must be positive");
  ASSIGN_OR_RETURN(const v1::Checkpoint meta, ReadStoredCheckpoint(store, job_name, checkpoint));
  if (offset_bytes > meta.size_bytes()) {
    return absl::OutOfRangeError(absl::StrCat("offset_bytes ", offset_bytes, " is past the end of ", meta.name(),
                                              " (", meta.size_bytes(), " bytes)"));
  }
  ASSIGN_OR_RETURN(const auto files, ReadCheckpointFiles(store, checkpoint));
  v1::GetCheckpointResponse first;
  *first.mutable_checkpoint() = meta;
  if (!send(first)) return absl::CancelledError("the client went away");
  int64_t skip = offset_bytes;
  for (int i = 0; i < meta.files_size(); ++i) {
    auto it = files.find(meta.files(i).path());
    if (it == files.end()) {
      return absl::DataLossError(absl::StrCat(meta.name(), ": file ", meta.files(i).path(), " is not stored"));
    }
    const std::string& bytes = it->second;
    int64_t offset = std::min<int64_t>(skip, static_cast<int64_t>(bytes.size()));
    skip -= offset;
    for (; offset < static_cast<int64_t>(bytes.size()); offset += chunk_bytes) {
      v1::GetCheckpointResponse message;
      v1::DataChunk& chunk = *message.mutable_chunk();
      chunk.set_file_index(i);
      chunk.set_offset(offset);
      chunk.set_data(bytes.substr(static_cast<size_t>(offset), static_cast<size_t>(chunk_bytes)));
      chunk.set_crc32c(Crc32c(chunk.data()));
      if (!send(message)) return absl::CancelledError("the client went away");
    }
  }
  return absl::OkStatus();
}

}  // namespace ftd
