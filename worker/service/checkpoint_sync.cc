// UploadCheckpoint / UploadFinalResult / DownloadCheckpoint over the WorkerService checkpoint streams.
#include "worker/service/checkpoint_sync.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/checkpoint/checkpoint_io.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "worker/train/train_checkpoint.h"

namespace ftd {
namespace {

constexpr size_t kChunkBytes = size_t{1} << 20;
constexpr absl::Duration kTransferTimeout = absl::Minutes(10);

// Streams `files` (path -> bytes, in `order`) after `header`.
absl::StatusOr<v1::Checkpoint> Upload(CoordinatorConnection& connection, v1::PutCheckpointHeader header,
                                      const std::vector<std::string>& order,
                                      const std::map<std::string, std::string>& files) {
  v1::Checkpoint& checkpoint = *header.mutable_checkpoint();
  int64_t total = 0;
  for (const std::string& path : order) {
    const std::string& bytes = files.at(path);
    v1::FileEntry& entry = *checkpoint.add_files();
    entry.set_path(path);
    entry.set_size_bytes(static_cast<int64_t>(bytes.size()));
    entry.set_sha256(Sha256Hex(bytes));
    total += static_cast<int64_t>(bytes.size());
  }
  checkpoint.set_size_bytes(total);
  const auto context = connection.NewContext(kTransferTimeout);
  v1::Checkpoint stored;
  std::unique_ptr<grpc::ClientWriter<v1::PutCheckpointRequest>> writer =
      connection.stub().PutCheckpoint(context.get(), &stored);
  v1::PutCheckpointRequest first;
  *first.mutable_header() = header;
  bool open = writer->Write(first);
  for (size_t i = 0; open && i < order.size(); ++i) {
    const std::string& bytes = files.at(order[i]);
    for (size_t offset = 0; open && offset < bytes.size(); offset += kChunkBytes) {
      v1::PutCheckpointRequest message;
      v1::DataChunk& chunk = *message.mutable_chunk();
      chunk.set_file_index(static_cast<int32_t>(i));
      chunk.set_offset(static_cast<int64_t>(offset));
      chunk.set_data(bytes.substr(offset, kChunkBytes));
      chunk.set_crc32c(Crc32c(chunk.data()));
      open = writer->Write(message);
    }
  }
  writer->WritesDone();
  RETURN_IF_ERROR(FromGrpc(writer->Finish(), absl::StrCat("uploading checkpoint step ", checkpoint.step(), " of ",
                                                         header.job())));
  return stored;
}

}  // namespace

absl::StatusOr<v1::Checkpoint> UploadCheckpoint(CoordinatorConnection& connection, CheckpointStore& local,
                                                const std::string& name, const UploadTarget& target,
                                                v1::CheckpointKind kind, bool best) {
  ASSIGN_OR_RETURN(const CheckpointManifest manifest, ReadCheckpointManifest(local, name));
  ASSIGN_OR_RETURN(const auto files, ReadCheckpointFiles(local, name));
  v1::PutCheckpointHeader header;
  header.set_job(target.job);
  header.set_attempt(target.attempt);
  header.set_rank(0);
  header.set_best(best);
  header.mutable_checkpoint()->set_step(manifest.step);
  header.mutable_checkpoint()->set_kind(kind);
  header.mutable_checkpoint()->set_trainer_state(manifest.metadata_json);
  std::vector<std::string> order;
  for (const CheckpointFileEntry& file : manifest.files) order.push_back(file.name);
  return Upload(connection, std::move(header), order, files);
}

absl::StatusOr<v1::Checkpoint> UploadFinalResult(CoordinatorConnection& connection, const std::string& dir,
                                                 const UploadTarget& target, v1::CheckpointKind kind, int64_t step) {
  std::vector<std::string> order;
  std::map<std::string, std::string> files;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string relative = std::filesystem::relative(it->path(), dir).generic_string();
    ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(it->path().string()));
    order.push_back(relative);
    files.emplace(relative, std::move(bytes));
  }
  if (ec) return absl::InternalError(absl::StrCat("listing the result directory ", dir, ": ", ec.message()));
  if (order.empty()) return absl::FailedPreconditionError(absl::StrCat("the result directory ", dir, " is empty"));
  std::sort(order.begin(), order.end());
  v1::PutCheckpointHeader header;
  header.set_job(target.job);
  header.set_attempt(target.attempt);
  header.set_rank(0);
  header.set_final_result(true);
  header.mutable_checkpoint()->set_step(step);
  header.mutable_checkpoint()->set_kind(kind);
  return Upload(connection, std::move(header), order, files);
}

namespace {

// The checkpoint's metadata and its files' verified bytes, in the checkpoint's file order.
absl::StatusOr<std::pair<v1::Checkpoint, std::vector<std::string>>> Fetch(CoordinatorConnection& connection,
                                                                          const std::string& checkpoint) {
  v1::GetCheckpointRequest request;
  request.set_name(checkpoint);
  const auto context = connection.NewContext(kTransferTimeout);
  std::unique_ptr<grpc::ClientReader<v1::GetCheckpointResponse>> reader =
      connection.stub().GetCheckpoint(context.get(), request);
  v1::GetCheckpointResponse message;
  if (!reader->Read(&message) || !message.has_checkpoint()) {
    RETURN_IF_ERROR(FromGrpc(reader->Finish(), absl::StrCat("downloading ", checkpoint)));
    return absl::DataLossError(absl::StrCat("downloading ", checkpoint, ": the stream did not start with metadata"));
  }
  v1::Checkpoint meta = message.checkpoint();
  std::vector<std::string> contents(static_cast<size_t>(meta.files_size()));
  while (reader->Read(&message)) {
    const v1::DataChunk& chunk = message.chunk();
    if (!message.has_chunk() || chunk.file_index() < 0 || chunk.file_index() >= meta.files_size()) {
      return absl::DataLossError(absl::StrCat("downloading ", checkpoint, ": a chunk names no file of it"));
    }
    std::string& bytes = contents[static_cast<size_t>(chunk.file_index())];
    if (chunk.offset() != static_cast<int64_t>(bytes.size()) || Crc32c(chunk.data()) != chunk.crc32c()) {
      return absl::DataLossError(absl::StrCat("downloading ", checkpoint, ": chunk of ",
                                              meta.files(chunk.file_index()).path(), " at offset ", chunk.offset(),
                                              " is out of order or fails its CRC32C"));
    }
    bytes.append(chunk.data());
  }
  RETURN_IF_ERROR(FromGrpc(reader->Finish(), absl::StrCat("downloading ", checkpoint)));
  for (int i = 0; i < meta.files_size(); ++i) {
    const std::string& bytes = contents[static_cast<size_t>(i)];
    if (static_cast<int64_t>(bytes.size()) != meta.files(i).size_bytes() ||
        Sha256Hex(bytes) != meta.files(i).sha256()) {
      return absl::DataLossError(absl::StrCat("downloading ", checkpoint, ": file ", meta.files(i).path(),
                                              " does not match its size or SHA-256"));
    }
  }
  return std::make_pair(std::move(meta), std::move(contents));
}

}  // namespace

absl::StatusOr<v1::Checkpoint> DownloadCheckpointFiles(CoordinatorConnection& connection,
                                                       const std::string& checkpoint, const std::string& dir) {
  ASSIGN_OR_RETURN(auto fetched, Fetch(connection, checkpoint));
  const auto& [meta, contents] = fetched;
  for (int i = 0; i < meta.files_size(); ++i) {
    const std::string& path = meta.files(i).path();
    if (path.empty() || path[0] == '/' || path.find("..") != std::string::npos) {
      return absl::DataLossError(absl::StrCat("downloading ", checkpoint, ": unsafe file path \"", path, "\""));
    }
    const std::string target = JoinPath(dir, path);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(target).parent_path(), ec);
    if (ec) return absl::InternalError(absl::StrCat("creating ", target, ": ", ec.message()));
    RETURN_IF_ERROR(WriteFileAtomically(target, {AsBytes(contents[static_cast<size_t>(i)])}));
  }
  return meta;
}

absl::StatusOr<std::string> DownloadCheckpoint(CoordinatorConnection& connection, const std::string& checkpoint,
                                               CheckpointStore& local) {
  ASSIGN_OR_RETURN(auto fetched, Fetch(connection, checkpoint));
  const auto& [meta, contents] = fetched;
  const std::string name = TrainCheckpointName(meta.step());
  ASSIGN_OR_RETURN(CheckpointWriter writer, CheckpointWriter::Begin(&local, name));
  for (int i = 0; i < meta.files_size(); ++i) {
    RETURN_IF_ERROR(writer.AddFile(meta.files(i).path(), contents[static_cast<size_t>(i)]));
  }
  RETURN_IF_ERROR(writer.Commit(meta.step(), meta.trainer_state().empty() ? "{}" : meta.trainer_state()));
  return name;
}


}  // namespace ftd
