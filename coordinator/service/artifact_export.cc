// DownloadArtifact's logic: resolving the source checkpoint, building the file list (stored files, or a merged model
// in a scratch directory), hashing it, and cutting the concatenated files into the stream's DataChunks.
#include "coordinator/service/artifact_export.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/checkpoint/checkpoint_io.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "coordinator/service/resource_names.h"
#include "model/file_io.h"
#include "model/hf_model.h"
#include "model/peft_adapter.h"

namespace ftd {
namespace {

constexpr int64_t kDefaultChunkBytes = int64_t{1} << 20;
constexpr int64_t kMinChunkBytes = int64_t{64} << 10;
constexpr int64_t kMaxChunkBytes = (int64_t{4} << 20) - (int64_t{64} << 10);
// Local files (a merged model) are read this much at a time.
constexpr int64_t kLocalReadBytes = int64_t{1} << 20;
constexpr absl::string_view kStepPrefix = "step-";
// Files of the final result that travel with every artifact built from it, after the model's own files.
constexpr absl::string_view kProvenanceFiles[] = {"provenance.json", "result.json"};
constexpr absl::string_view kAdapterFiles[] = {"adapter_config.json", "adapter_model.safetensors"};

// One file of the artifact and where its bytes are: a stored checkpoint's chunks or a local file.
struct ArtifactFile {
  std::string path;  // In the artifact, '/'-separated.
  int64_t size = 0;
  // Stored: the checkpoint and this file's chunks with their manifest index (the store's chunk index).
  std::string checkpoint;
  std::vector<std::pair<int64_t, CheckpointChunkEntry>> chunks;
  // Local (when non-empty): the file on the coordinator's filesystem.
  std::string local_path;
};

// A directory under the scratch dir, removed with everything in it when this goes out of scope.
class ScratchDirectory {
 public:
  static absl::StatusOr<std::unique_ptr<ScratchDirectory>> Create(const std::string& parent) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
      return absl::UnavailableError(absl::StrCat("cannot create the scratch directory ", parent, ": ",
                                                 error.message()));
    }
    std::string templ = JoinPath(parent, "ftd-export-XXXXXX");
    if (::mkdtemp(templ.data()) == nullptr) {
      return absl::UnavailableError(absl::StrCat("cannot create a temp directory in ", parent, ": ",
                                                 std::error_code(errno, std::generic_category()).message()));
    }
    return std::unique_ptr<ScratchDirectory>(new ScratchDirectory(std::move(templ)));
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;

  const std::string& path() const { return path_; }

 private:
  explicit ScratchDirectory(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// What StreamArtifact sends: the manifest's fields and the files, plus the scratch directory they may live in.
struct Artifact {
  std::string checkpoint;  // Short name of the source checkpoint.
  std::string suggested_directory;
  std::vector<ArtifactFile> files;
  std::unique_ptr<ScratchDirectory> scratch;
};

std::string CheckpointResourceName(const v1::Job& job, absl::string_view checkpoint) {
  return absl::StrCat(job.name(), "/checkpoints/", checkpoint);
}

bool IsFullFineTuning(const v1::Job& job) { return job.resolved_spec().method() == v1::METHOD_FULL; }

// FAILED_PRECONDITION when `base_dir` is a bitsandbytes 4-bit directory (a qlora job may train on one): its
// projections are NF4 codes, and MergeLoraAdapter adds B @ A to floating weights only. Dequantising them first
// (as transformers' dequantize() would) needs a writer of the dequantised directory beside model/quant/nf4_model's
// reader, which does not exist yet; until then the adapter export is the result. A config.json that cannot be read
// or parsed is left to MergeLoraAdapter to report.
absl::Status CheckMergeableBase(const v1::Job& job, const std::string& base_dir) {
  const absl::StatusOr<std::string> config = ReadFileToString(JoinPath(base_dir, "config.json"));
  if (!config.ok()) return absl::OkStatus();
  const absl::StatusOr<std::optional<HfQuantization>> quantization = ParseHfQuantization(*config);
  if (!quantization.ok() || !quantization->has_value()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "cannot merge the adapter of job ", job.name(), ": its base model ", base_dir,
      " is a bitsandbytes 4-bit directory (config.json quantization_config), and merging into NF4 weights is not "
      "supported; export the adapter (kind adapter) and merge it into the unquantised model that directory was "
      "quantised from (ftctl adapter merge)"));
}

// The files of a committed checkpoint, in manifest order, each with its chunks.
absl::StatusOr<std::vector<ArtifactFile>> StoredFiles(const v1::Job& job, const CheckpointManifest& manifest) {
  std::vector<ArtifactFile> files(manifest.files.size());
  for (size_t f = 0; f < manifest.files.size(); ++f) {
    files[f].path = manifest.files[f].name;
    files[f].size = manifest.files[f].size_bytes;
    files[f].checkpoint = manifest.name;
  }
  for (size_t i = 0; i < manifest.chunks.size(); ++i) {
    const CheckpointChunkEntry& chunk = manifest.chunks[i];
    if (chunk.file < 0 || static_cast<size_t>(chunk.file) >= files.size()) {
      return absl::DataLossError(absl::StrCat("checkpoint ", CheckpointResourceName(job, manifest.name), " chunk ",
                                              i, " names file ", chunk.file, " of ", files.size()));
    }
    files[static_cast<size_t>(chunk.file)].chunks.emplace_back(static_cast<int64_t>(i), chunk);
  }
  return files;
}

absl::StatusOr<CheckpointManifest> ReadManifest(CheckpointStore& store, const v1::Job& job,
                                                absl::string_view checkpoint) {
  absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(store, checkpoint);
  if (absl::IsNotFound(manifest.status())) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", CheckpointResourceName(job, checkpoint), " not found"));
  }
  return manifest;
}

// The final result's manifest; FAILED_PRECONDITION while the job has none.
absl::StatusOr<CheckpointManifest> ReadFinalManifest(CheckpointStore& store, const v1::Job& job) {
  absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(store, kFinalResultCheckpoint);
  if (absl::IsNotFound(manifest.status())) {
    return absl::FailedPreconditionError(absl::StrCat("job ", job.name(), " has no final result yet (state ",
                                                      absl::StripPrefix(v1::JobState_Name(job.state()), "JOB_STATE_"),
                                                      ")"));
  }
  return manifest;
}

// Moves provenance.json and result.json behind the model's files, keeping each group's order.
void ProvenanceLast(std::vector<ArtifactFile>& files) {
  std::stable_partition(files.begin(), files.end(), [](const ArtifactFile& file) {
    return std::find(std::begin(kProvenanceFiles), std::end(kProvenanceFiles), file.path) ==
           std::end(kProvenanceFiles);
  });
}

// For "jobs/{job}": its best checkpoint, else the newest "step-*" (names sort by step).
absl::StatusOr<std::string> DefaultCheckpoint(CheckpointStore& store, const v1::Job& job) {
  if (!job.best_checkpoint().empty()) {
    absl::StatusOr<ArtifactSource> best = ParseArtifactSource(job.best_checkpoint());
    if (!best.ok() || best->checkpoint.empty()) {
      return absl::InternalError(absl::StrCat("job ", job.name(), " has a malformed best_checkpoint \"",
                                              job.best_checkpoint(), "\""));
    }
    return best->checkpoint;
  }
  ASSIGN_OR_RETURN(const std::vector<std::string> names, store.ListCommitted());
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (absl::StartsWith(*it, kStepPrefix)) return *it;
  }
  return absl::FailedPreconditionError(absl::StrCat("job ", job.name(), " has no checkpoint yet (state ",
                                                    absl::StripPrefix(v1::JobState_Name(job.state()), "JOB_STATE_"),
                                                    ")"));
}

absl::StatusOr<Artifact> CheckpointArtifact(CheckpointStore& store, const v1::Job& job, const std::string& job_id,
                                            const std::string& named) {
  Artifact artifact;
  if (named.empty()) {
    ASSIGN_OR_RETURN(artifact.checkpoint, DefaultCheckpoint(store, job));
  } else {
    artifact.checkpoint = named;
  }
  ASSIGN_OR_RETURN(const CheckpointManifest manifest, ReadManifest(store, job, artifact.checkpoint));
  ASSIGN_OR_RETURN(artifact.files, StoredFiles(job, manifest));
  const std::string label = absl::StartsWith(artifact.checkpoint, kStepPrefix)
                                ? absl::StrCat("step-", manifest.step)
                                : artifact.checkpoint;
  artifact.suggested_directory = absl::StrCat(job_id, "-", label, "-checkpoint");
  return artifact;
}

// The merged model of a lora/qlora job: the final adapter written to scratch, merged into the base model there. A
// qlora adapter merges into the unquantised base like a lora one (what PEFT users do with a QLoRA adapter: merge it
// into the fp16/fp32 model); a base that is itself 4-bit is refused (CheckMergeableBase).
absl::StatusOr<Artifact> MergedArtifact(CheckpointStore& store, const v1::Job& job, const std::string& job_id,
                                        const std::vector<ArtifactFile>& final_files, const std::string& scratch_dir) {
  const std::string& base_dir = job.resolved_spec().base_model();
  RETURN_IF_ERROR(CheckMergeableBase(job, base_dir));
  Artifact artifact;
  artifact.checkpoint = kFinalResultCheckpoint;
  artifact.suggested_directory = absl::StrCat(job_id, "-merged");
  ASSIGN_OR_RETURN(artifact.scratch, ScratchDirectory::Create(scratch_dir));
  const std::string adapter_dir = JoinPath(artifact.scratch->path(), "adapter");
  const std::string merged_dir = JoinPath(artifact.scratch->path(), "merged");

  ASSIGN_OR_RETURN(const auto stored, ReadCheckpointFiles(store, kFinalResultCheckpoint));
  std::error_code error;
  std::filesystem::create_directories(adapter_dir, error);
  if (error) return absl::UnavailableError(absl::StrCat("cannot create ", adapter_dir, ": ", error.message()));
  for (const absl::string_view name : kAdapterFiles) {
    auto it = stored.find(std::string(name));
    if (it == stored.end()) {
      return absl::FailedPreconditionError(absl::StrCat("the final result of job ", job.name(), " has no ", name,
                                                        ", so there is no adapter to merge"));
    }
    RETURN_IF_ERROR(WriteFileAtomically(JoinPath(adapter_dir, name), {AsBytes(it->second)}));
  }
  RETURN_IF_ERROR_CONTEXT(MergeLoraAdapter(base_dir, adapter_dir, merged_dir),
                          absl::StrCat("merging the final adapter of job ", job.name(), " into base model ",
                                       base_dir));

  std::vector<std::string> paths;
  for (auto it = std::filesystem::recursive_directory_iterator(merged_dir, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_regular_file()) paths.push_back(it->path().lexically_relative(merged_dir).generic_string());
  }
  if (error) return absl::UnavailableError(absl::StrCat("cannot list ", merged_dir, ": ", error.message()));
  std::sort(paths.begin(), paths.end());
  for (std::string& path : paths) {
    ArtifactFile file;
    file.local_path = JoinPath(merged_dir, path);
    file.size = static_cast<int64_t>(std::filesystem::file_size(file.local_path, error));
    if (error) return absl::UnavailableError(absl::StrCat("cannot stat ", file.local_path, ": ", error.message()));
    file.path = std::move(path);
    artifact.files.push_back(std::move(file));
  }
  for (const ArtifactFile& file : final_files) {
    if (std::find(std::begin(kProvenanceFiles), std::end(kProvenanceFiles), file.path) != std::end(kProvenanceFiles)) {
      artifact.files.push_back(file);
    }
  }
  return artifact;
}

// Hands `file`'s bytes from `skip` on to `visit`, in order, a stored chunk or a local read at a
// time; pieces wholly before `skip` are not read. Stored chunks are verified (DATA_LOSS), and the bytes must add up
// to the file's size.
absl::Status ForEachPiece(CheckpointStore& store, const v1::Job& job, const ArtifactFile& file, int64_t skip,
                          absl::FunctionRef<absl::Status(absl::string_view)> visit) {
  int64_t seen = skip;
  if (!file.local_path.empty()) {
    std::ifstream in(file.local_path, std::ios::binary);
    if (!in) return absl::UnavailableError(absl::StrCat("cannot open ", file.local_path));
    in.seekg(skip);
    std::string buffer(static_cast<size_t>(kLocalReadBytes), '\0');
    while (seen < file.size && in) {
      in.read(buffer.data(), static_cast<std::streamsize>(std::min(kLocalReadBytes, file.size - seen)));
      const int64_t got = in.gcount();
      if (got <= 0) break;
      RETURN_IF_ERROR(visit(absl::string_view(buffer.data(), static_cast<size_t>(got))));
      seen += got;
    }
  } else {
    const std::string where_file =
        absl::StrCat("checkpoint ", CheckpointResourceName(job, file.checkpoint), " file \"", file.path, "\"");
    for (const auto& [index, chunk] : file.chunks) {
      if (chunk.offset + chunk.size <= skip) continue;
      const std::string where = absl::StrCat(where_file, " chunk ", index);
      absl::StatusOr<std::string> bytes = store.GetChunk(file.checkpoint, index);
      if (absl::IsNotFound(bytes.status())) {
        // Gone with its manifest: the checkpoint was deleted (garbage collection) while being read.
        if (absl::IsNotFound(store.GetManifest(file.checkpoint).status())) {
          return absl::NotFoundError(absl::StrCat("checkpoint ", CheckpointResourceName(job, file.checkpoint),
                                                  " was deleted while being read"));
        }
        return absl::DataLossError(absl::StrCat(where, " is missing: ", bytes.status().message()));
      }
      RETURN_IF_ERROR_CONTEXT(bytes.status(), where);
      if (static_cast<int64_t>(bytes->size()) != chunk.size) {
        return absl::DataLossError(
            absl::StrCat(where, " has ", bytes->size(), " bytes, the manifest says ", chunk.size));
      }
      const uint32_t crc = Crc32c(*bytes);
      if (crc != chunk.crc32c) {
        return absl::DataLossError(
            absl::StrFormat("%s: CRC32C mismatch: manifest 0x%08x, chunk 0x%08x", where, chunk.crc32c, crc));
      }
      absl::string_view piece = *bytes;
      int64_t offset = chunk.offset;
      if (offset < skip) {
        piece.remove_prefix(static_cast<size_t>(skip - offset));
        offset = skip;
      }
      RETURN_IF_ERROR(visit(piece));
      seen = offset + static_cast<int64_t>(piece.size());
    }
  }
  if (seen != file.size) {
    return absl::DataLossError(absl::StrCat(file.local_path.empty() ? file.checkpoint : file.local_path, ": file \"",
                                            file.path, "\" ends at ", seen, " bytes, expected ", file.size));
  }
  return absl::OkStatus();
}

// Cuts one file's bytes, from its resume offset on, into DataChunks of exactly chunk_bytes (the last one shorter),
// copying only what straddles two pieces.
class FileChunker {
 public:
  FileChunker(int32_t file_index, int64_t start, int64_t chunk_bytes,
              absl::FunctionRef<bool(const v1::DownloadArtifactResponse&)> send)
      : file_index_(file_index), next_offset_(start), chunk_bytes_(static_cast<size_t>(chunk_bytes)), send_(send) {}

  absl::Status Add(absl::string_view piece) {
    while (!piece.empty()) {
      if (pending_.empty() && piece.size() >= chunk_bytes_) {
        RETURN_IF_ERROR(Emit(piece.substr(0, chunk_bytes_)));
        piece.remove_prefix(chunk_bytes_);
        continue;
      }
      const size_t take = std::min(chunk_bytes_ - pending_.size(), piece.size());
      pending_.append(piece.data(), take);
      piece.remove_prefix(take);
      if (pending_.size() == chunk_bytes_) RETURN_IF_ERROR(Flush());
    }
    return absl::OkStatus();
  }

  absl::Status Flush() {
    if (pending_.empty()) return absl::OkStatus();
    RETURN_IF_ERROR(Emit(pending_));
    pending_.clear();
    return absl::OkStatus();
  }

 private:
  absl::Status Emit(absl::string_view data) {
    v1::DownloadArtifactResponse response;
    v1::DataChunk& chunk = *response.mutable_chunk();
    chunk.set_file_index(file_index_);
    chunk.set_offset(next_offset_);
    chunk.set_data(std::string(data));
    chunk.set_crc32c(Crc32c(data));
    if (!send_(response)) return absl::CancelledError("the client went away");
    next_offset_ += static_cast<int64_t>(data.size());
    return absl::OkStatus();
  }

  const int32_t file_index_;
  int64_t next_offset_;
  const size_t chunk_bytes_;
  absl::FunctionRef<bool(const v1::DownloadArtifactResponse&)> send_;
  std::string pending_;
};

}  // namespace

absl::StatusOr<ArtifactSource> ParseArtifactSource(const std::string& source) {
  const std::vector<absl::string_view> parts = absl::StrSplit(source, '/');
  const auto malformed = [&source] {
    return absl::InvalidArgumentError(absl::StrCat(
        "source: \"", source, "\" is neither a job (jobs/{job}) nor a checkpoint (jobs/{job}/checkpoints/{name})"));
  };
  if (parts.size() != 2 && !(parts.size() == 4 && parts[2] == "checkpoints")) return malformed();
  ArtifactSource parsed;
  absl::StatusOr<std::string> job_id = ParseJobName(absl::StrCat(parts[0], "/", parts[1]), "source");
  if (!job_id.ok()) return malformed();
  parsed.job_id = *std::move(job_id);
  if (parts.size() == 4) {
    if (!ValidateCheckpointName(parts[3]).ok()) return malformed();
    parsed.checkpoint = std::string(parts[3]);
  }
  return parsed;
}

absl::StatusOr<int64_t> ArtifactChunkSize(int32_t requested) {
  if (requested < 0) {
    return absl::InvalidArgumentError(absl::StrCat("chunk_size_bytes: must be >= 0, got ", requested));
  }
  if (requested == 0) return kDefaultChunkBytes;
  return std::clamp<int64_t>(requested, kMinChunkBytes, kMaxChunkBytes);
}

absl::Status StreamArtifact(CoordinatorStore& store, const v1::Job& job, const v1::DownloadArtifactRequest& request,
                            const std::string& scratch_dir,
                            absl::FunctionRef<bool(const v1::DownloadArtifactResponse&)> send) {
  ASSIGN_OR_RETURN(const ArtifactSource source, ParseArtifactSource(request.source()));
  if (JobName(source.job_id) != job.name()) {
    return absl::InvalidArgumentError(
        absl::StrCat("source: \"", request.source(), "\" does not name job ", job.name()));
  }
  const v1::ArtifactKind kind = request.kind();
  if (kind == v1::ARTIFACT_KIND_UNSPECIFIED || !v1::ArtifactKind_IsValid(kind)) {
    return absl::InvalidArgumentError("kind: required: checkpoint, adapter or merged_model");
  }
  ASSIGN_OR_RETURN(const int64_t chunk_bytes, ArtifactChunkSize(request.chunk_size_bytes()));
  if (request.offset_bytes() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("offset_bytes: must be >= 0, got ", request.offset_bytes()));
  }
  ASSIGN_OR_RETURN(const std::unique_ptr<CheckpointStore> checkpoints, store.Checkpoints(source.job_id));

  Artifact artifact;
  if (kind == v1::ARTIFACT_KIND_CHECKPOINT) {
    ASSIGN_OR_RETURN(artifact, CheckpointArtifact(*checkpoints, job, source.job_id, source.checkpoint));
  } else {
    const absl::string_view what = kind == v1::ARTIFACT_KIND_ADAPTER ? "an adapter" : "a merged model";
    if (!source.checkpoint.empty() && source.checkpoint != kFinalResultCheckpoint) {
      return absl::FailedPreconditionError(absl::StrCat(
          request.source(), " is a training checkpoint; ", what, " is built from the job's final result: ask for ",
          job.name(), " (or ", CheckpointResourceName(job, kFinalResultCheckpoint),
          "), or download this checkpoint with kind checkpoint"));
    }
    if (kind == v1::ARTIFACT_KIND_ADAPTER && IsFullFineTuning(job)) {
      return absl::FailedPreconditionError(absl::StrCat("job ", job.name(),
                                                        " is full fine-tuning (method full), so it has no adapter: "
                                                        "the trained model is its merged-model artifact "
                                                        "(ARTIFACT_KIND_MERGED_MODEL; ftctl export --kind merged)"));
    }
    ASSIGN_OR_RETURN(const CheckpointManifest final_manifest, ReadFinalManifest(*checkpoints, job));
    ASSIGN_OR_RETURN(std::vector<ArtifactFile> final_files, StoredFiles(job, final_manifest));
    if (kind == v1::ARTIFACT_KIND_MERGED_MODEL && !IsFullFineTuning(job)) {
      ASSIGN_OR_RETURN(artifact, MergedArtifact(*checkpoints, job, source.job_id, final_files, scratch_dir));
    } else {
      artifact.checkpoint = kFinalResultCheckpoint;
      artifact.files = std::move(final_files);
      ProvenanceLast(artifact.files);
      artifact.suggested_directory =
          absl::StrCat(source.job_id, kind == v1::ARTIFACT_KIND_ADAPTER ? "-adapter" : "-merged");
    }
  }

  // The manifest carries every file's sha256, so every byte is read (and verified) once before the first is sent.
  v1::DownloadArtifactResponse first;
  v1::ArtifactManifest& manifest = *first.mutable_manifest();
  manifest.set_kind(kind);
  manifest.set_checkpoint(CheckpointResourceName(job, artifact.checkpoint));
  manifest.set_suggested_directory(artifact.suggested_directory);
  int64_t total = 0;
  for (const ArtifactFile& file : artifact.files) {
    Sha256 sha;
    RETURN_IF_ERROR(ForEachPiece(*checkpoints, job, file, 0, [&sha](absl::string_view bytes) {
      sha.Update(bytes);
      return absl::OkStatus();
    }));
    v1::FileEntry& entry = *manifest.add_files();
    entry.set_path(file.path);
    entry.set_size_bytes(file.size);
    entry.set_sha256(sha.HexDigest());
    total += file.size;
  }
  manifest.set_total_size_bytes(total);
  if (request.offset_bytes() > total) {
    return absl::OutOfRangeError(absl::StrCat("offset_bytes: ", request.offset_bytes(), " is beyond the end of ",
                                              manifest.checkpoint(), "'s ", v1::ArtifactKind_Name(kind), " (",
                                              total, " bytes)"));
  }
  const absl::Status cancelled = absl::CancelledError(
      absl::StrCat("the client went away during the download of ", manifest.checkpoint()));
  if (!send(first)) return cancelled;

  int64_t skip = request.offset_bytes();
  for (size_t f = 0; f < artifact.files.size(); ++f) {
    const ArtifactFile& file = artifact.files[f];
    const int64_t skip_in_file = std::min(skip, file.size);
    skip -= skip_in_file;
    if (skip_in_file == file.size) continue;
    FileChunker chunker(static_cast<int32_t>(f), skip_in_file, chunk_bytes, send);
    absl::Status sent = ForEachPiece(*checkpoints, job, file, skip_in_file,
                                     [&chunker](absl::string_view bytes) { return chunker.Add(bytes); });
    if (sent.ok()) sent = chunker.Flush();
    if (absl::IsCancelled(sent)) return cancelled;
    RETURN_IF_ERROR(sent);
  }
  return absl::OkStatus();
}

}  // namespace ftd
