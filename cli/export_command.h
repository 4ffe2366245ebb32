// ftctl export, flag-free: downloads a job's artifact (adapter, merged model or checkpoint) through DownloadArtifact
// into a local directory, checking every chunk's CRC32C and every file's sha256. Built only with FTD_SERVICE=ON.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/job_client.h"
#include "cli/output_format.h"
#include "ftd/v1/artifact.pb.h"

namespace ftd {

// "adapter", "merged" (or "merged_model") and "checkpoint", any case. INVALID_ARGUMENT naming the choices otherwise.
absl::StatusOr<v1::ArtifactKind> ParseArtifactKind(absl::string_view kind);

struct ExportOptions {
  std::string job;         // "ft-000001" or "jobs/ft-000001".
  std::string checkpoint;  // A checkpoint's short name ("step-00000020", "final"); empty: the job.
  // UNSPECIFIED: kind checkpoint when `checkpoint` names a training checkpoint, else the job's result: its
  // adapter, or the trained model (merged) for a full fine-tuning job (one GetJob call to learn which).
  v1::ArtifactKind kind = v1::ARTIFACT_KIND_UNSPECIFIED;
  // Where the files go. Must not exist, or be an empty directory; the download is written to "<dir>.partial" and
  // renamed into place only once every file checked out.
  std::string dir;
  int32_t chunk_size_bytes = 0;  // 0: the server's default (1 MiB).
};

// Downloads the artifact into options.dir. Every chunk's CRC32C and every file's size and sha256 are checked
// against the manifest (DATA_LOSS naming the file otherwise), as are the stream's order and the files' paths (no
// "..", no absolute paths). FAILED_PRECONDITION when options.dir exists and is not an empty directory. On any error
// the partial directory is removed. Table: one line per file (bytes, path) and a summary; JSON: the ArtifactManifest.
absl::Status JobExport(JobClient& client, const ExportOptions& options, OutputFormat format, std::ostream& out);

}  // namespace ftd
