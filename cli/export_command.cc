// ftctl export over JobClient::DownloadArtifact: the receiving side of the artifact stream (order, CRC32C, sizes,
// sha256) and the "<dir>.partial, then rename" handling of the output directory.
#include "cli/export_command.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/job_commands.h"
#include "cli/job_format.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace ftd {
namespace {

namespace fs = std::filesystem;

// OK for a relative, '/'-separated path without empty, "." or ".." components: nothing can land outside the
// download directory.
absl::Status CheckArtifactPath(const std::string& path) {
  bool ok = !path.empty() && path.front() != '/' && !absl::StrContains(path, '\\') &&
            !absl::StrContains(path, '\0');
  for (const absl::string_view part : absl::StrSplit(path, '/')) {
    ok = ok && !part.empty() && part != "." && part != "..";
  }
  if (ok) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("the server's manifest names the file \"", absl::CHexEscape(path),
                                          "\", which is not a relative path inside the download"));
}

// Writes one artifact stream into a directory: the manifest first, then each file's chunks in order. Not thread-safe.
class ArtifactReceiver {
 public:
  explicit ArtifactReceiver(std::string dir) : dir_(std::move(dir)) {}

  const std::optional<v1::ArtifactManifest>& manifest() const { return manifest_; }

  absl::Status Handle(const v1::DownloadArtifactResponse& message) {
    if (message.has_manifest()) {
      if (manifest_.has_value()) return absl::DataLossError("the server sent a second manifest");
      return Start(message.manifest());
    }
    if (!manifest_.has_value()) return absl::DataLossError("the server sent data before the manifest");
    if (!message.has_chunk()) return absl::DataLossError("the server sent an empty message");
    return Chunk(message.chunk());
  }

  // After the stream ended OK: every file must be complete.
  absl::Status Finish() {
    if (!manifest_.has_value()) return absl::DataLossError("the server ended the download without a manifest");
    return AdvanceTo(manifest_->files_size());
  }

 private:
  absl::Status Start(const v1::ArtifactManifest& manifest) {
    std::set<std::string> paths;
    int64_t total = 0;
    for (const v1::FileEntry& file : manifest.files()) {
      RETURN_IF_ERROR(CheckArtifactPath(file.path()));
      if (!paths.insert(file.path()).second) {
        return absl::DataLossError(absl::StrCat("the server's manifest lists \"", file.path(), "\" twice"));
      }
      if (file.size_bytes() < 0) {
        return absl::DataLossError(absl::StrCat("the server's manifest gives \"", file.path(), "\" a negative size"));
      }
      total += file.size_bytes();
    }
    if (total != manifest.total_size_bytes()) {
      return absl::DataLossError(absl::StrCat("the server's manifest totals ", manifest.total_size_bytes(),
                                              " bytes, but its files add up to ", total));
    }
    manifest_ = manifest;
    return absl::OkStatus();
  }

  absl::Status Chunk(const v1::DataChunk& chunk) {
    const int32_t index = chunk.file_index();
    if (index < 0 || index >= manifest_->files_size()) {
      return absl::DataLossError(absl::StrCat("the server sent a chunk of file ", index, ", but the manifest lists ",
                                              manifest_->files_size()));
    }
    if (index < current_) {
      return absl::DataLossError(absl::StrCat("the server went back to \"", manifest_->files(index).path(),
                                              "\" after \"", manifest_->files(current_).path(), "\""));
    }
    RETURN_IF_ERROR(AdvanceTo(index));
    const v1::FileEntry& file = manifest_->files(index);
    if (chunk.offset() != written_) {
      return absl::DataLossError(absl::StrCat("\"", file.path(), "\": the server sent offset ", chunk.offset(),
                                              ", expected ", written_));
    }
    const uint32_t crc = Crc32c(chunk.data());
    if (crc != chunk.crc32c()) {
      return absl::DataLossError(absl::StrFormat("\"%s\" at offset %d: CRC32C mismatch: chunk says 0x%08x, data has "
                                                 "0x%08x",
                                                 file.path(), chunk.offset(), chunk.crc32c(), crc));
    }
    if (written_ + static_cast<int64_t>(chunk.data().size()) > file.size_bytes()) {
      return absl::DataLossError(absl::StrCat("\"", file.path(), "\": the server sent more than its ",
                                              file.size_bytes(), " bytes"));
    }
    out_.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    if (!out_) return absl::UnavailableError(absl::StrCat("cannot write ", JoinedPath(file).string()));
    sha_.Update(chunk.data());
    written_ += static_cast<int64_t>(chunk.data().size());
    return absl::OkStatus();
  }

  // Completes the open file and every (necessarily empty) file before `index`, then opens `index` if it is a file.
  absl::Status AdvanceTo(int32_t index) {
    while (current_ < index) {
      if (current_ >= 0) RETURN_IF_ERROR(CompleteCurrent());
      ++current_;
      if (current_ < manifest_->files_size()) RETURN_IF_ERROR(OpenCurrent());
    }
    return absl::OkStatus();
  }

  absl::Status OpenCurrent() {
    const v1::FileEntry& file = manifest_->files(current_);
    const fs::path path = JoinedPath(file);
    std::error_code error;
    fs::create_directories(path.parent_path(), error);
    if (error) return absl::UnavailableError(absl::StrCat("cannot create ", path.parent_path().string(), ": ",
                                                          error.message()));
    out_ = std::ofstream(path, std::ios::binary | std::ios::trunc);
    if (!out_) return absl::UnavailableError(absl::StrCat("cannot create ", path.string()));
    sha_ = Sha256();
    written_ = 0;
    return absl::OkStatus();
  }

  absl::Status CompleteCurrent() {
    const v1::FileEntry& file = manifest_->files(current_);
    if (written_ != file.size_bytes()) {
      return absl::DataLossError(absl::StrCat("\"", file.path(), "\": received ", written_, " of its ",
                                              file.size_bytes(), " bytes"));
    }
    const std::string digest = sha_.HexDigest();
    if (digest != file.sha256()) {
      return absl::DataLossError(absl::StrCat("\"", file.path(), "\": sha256 mismatch: the manifest says ",
                                              file.sha256(), ", the received bytes hash to ", digest));
    }
    out_.close();
    if (!out_) return absl::UnavailableError(absl::StrCat("cannot write ", JoinedPath(file).string()));
    return absl::OkStatus();
  }

  fs::path JoinedPath(const v1::FileEntry& file) const { return fs::path(dir_) / file.path(); }

  const std::string dir_;
  std::optional<v1::ArtifactManifest> manifest_;
  int32_t current_ = -1;  // The file being written; manifest files_size() once all are done.
  int64_t written_ = 0;
  std::ofstream out_;
  Sha256 sha_;
};

// FAILED_PRECONDITION unless `dir` is absent or an empty directory.
absl::Status CheckOutputDir(const std::string& dir) {
  std::error_code error;
  const fs::file_status status = fs::status(dir, error);
  if (!fs::exists(status)) return absl::OkStatus();
  if (fs::is_directory(status) && fs::is_empty(dir, error) && !error) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(dir, " already exists and is not an empty directory; choose another --dir or remove it"));
}

absl::Status Download(JobClient& client, const v1::DownloadArtifactRequest& request, const std::string& partial,
                      v1::ArtifactManifest& manifest) {
  std::error_code error;
  fs::remove_all(partial, error);  // A leftover of an interrupted export: ours to replace.
  fs::create_directories(partial, error);
  if (error) return absl::UnavailableError(absl::StrCat("cannot create ", partial, ": ", error.message()));
  ArtifactReceiver receiver(partial);
  RETURN_IF_ERROR(client.DownloadArtifact(
      request, [&receiver](const v1::DownloadArtifactResponse& message) { return receiver.Handle(message); }));
  RETURN_IF_ERROR(receiver.Finish());
  manifest = *receiver.manifest();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ArtifactKind> ParseArtifactKind(absl::string_view kind) {
  const std::string lower = absl::AsciiStrToLower(kind);
  if (lower == "adapter") return v1::ARTIFACT_KIND_ADAPTER;
  if (lower == "merged" || lower == "merged_model") return v1::ARTIFACT_KIND_MERGED_MODEL;
  if (lower == "checkpoint") return v1::ARTIFACT_KIND_CHECKPOINT;
  return absl::InvalidArgumentError(
      absl::StrCat("kind: unknown artifact kind \"", kind, "\" (one of adapter, merged, checkpoint)"));
}

absl::Status JobExport(JobClient& client, const ExportOptions& options, OutputFormat format, std::ostream& out) {
  if (options.dir.empty()) return absl::InvalidArgumentError("dir: an output directory is required");
  v1::DownloadArtifactRequest request;
  request.set_source(options.checkpoint.empty()
                         ? JobResourceName(options.job)
                         : absl::StrCat(JobResourceName(options.job), "/checkpoints/", options.checkpoint));
  v1::ArtifactKind kind = options.kind;
  if (kind == v1::ARTIFACT_KIND_UNSPECIFIED && !options.checkpoint.empty() && options.checkpoint != "final") {
    kind = v1::ARTIFACT_KIND_CHECKPOINT;
  } else if (kind == v1::ARTIFACT_KIND_UNSPECIFIED) {
    // The job's result: its adapter, or for full fine-tuning (which has none) the trained model.
    v1::GetJobRequest get;
    get.set_name(JobResourceName(options.job));
    ASSIGN_OR_RETURN(const v1::Job job, client.GetJob(get));
    kind = job.resolved_spec().method() == v1::METHOD_FULL ? v1::ARTIFACT_KIND_MERGED_MODEL
                                                           : v1::ARTIFACT_KIND_ADAPTER;
  }
  request.set_kind(kind);
  request.set_chunk_size_bytes(options.chunk_size_bytes);

  // Trailing slashes would put the partial directory inside the output one.
  std::string dir = options.dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  RETURN_IF_ERROR(CheckOutputDir(dir));
  const std::string partial = dir + ".partial";
  v1::ArtifactManifest manifest;
  absl::Status downloaded = Download(client, request, partial, manifest);
  std::error_code error;
  if (downloaded.ok()) {
    // Re-checked: something may have appeared there during the download.
    downloaded = CheckOutputDir(dir);
    if (downloaded.ok()) {
      fs::remove(dir, error);  // An empty directory, or nothing.
      fs::rename(partial, dir, error);
      if (error) {
        downloaded = absl::UnavailableError(absl::StrCat("cannot rename ", partial, " to ", dir, ": ",
                                                         error.message()));
      }
    }
  }
  if (!downloaded.ok()) {
    fs::remove_all(partial, error);
    return Annotate(downloaded, absl::StrCat("exporting ", request.source()));
  }

  if (format == OutputFormat::kJson) {
    ASSIGN_OR_RETURN(const std::string json, ToJson(manifest, JsonLayout::kIndented));
    out << json << '\n';
    return absl::OkStatus();
  }
  for (const v1::FileEntry& file : manifest.files()) {
    out << absl::StrFormat("%14d  %s\n", file.size_bytes(), file.path());
  }
  out << "exported " << manifest.files_size() << (manifest.files_size() == 1 ? " file, " : " files, ")
      << manifest.total_size_bytes() << " bytes from " << manifest.checkpoint() << " to " << dir << '\n';
  return absl::OkStatus();
}

}  // namespace ftd
