// Moving checkpoints between a rank's local store and the coordinator: rank 0 uploads each committed checkpoint and,
// at the end, the job's final result (PutCheckpoint); a resuming attempt downloads its checkpoint into the local
// store before the trainer starts (GetCheckpoint), under the name the trainer looks for.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/checkpoint/checkpoint_store.h"
#include "ftd/v1/checkpoint.pb.h"
#include "worker/service/coordinator_connection.h"

namespace ftd {

struct UploadTarget {
  std::string job;  // "jobs/{job}".
  int32_t attempt = 0;
};

// Uploads the committed local checkpoint `name` (read and verified through checkpoint_io) with its manifest's
// metadata as trainer_state. Returns the checkpoint as the coordinator stored it.
absl::StatusOr<ftd::v1::Checkpoint> UploadCheckpoint(CoordinatorConnection& connection, CheckpointStore& local,
                                                     const std::string& name, const UploadTarget& target,
                                                     ftd::v1::CheckpointKind kind, bool best);

// Uploads every regular file under `dir` (relative paths, sorted) as the job's final result at `step`.
absl::StatusOr<ftd::v1::Checkpoint> UploadFinalResult(CoordinatorConnection& connection, const std::string& dir,
                                                      const UploadTarget& target, ftd::v1::CheckpointKind kind,
                                                      int64_t step);

// Downloads "jobs/{job}/checkpoints/{checkpoint}" and commits it to `local` as the trainer's checkpoint of its step
// (TrainCheckpointName), its trainer_state as the manifest's metadata. Chunks are CRC32C-checked and each file's
// SHA-256 verified (DATA_LOSS otherwise). Returns the local name.
absl::StatusOr<std::string> DownloadCheckpoint(CoordinatorConnection& connection, const std::string& checkpoint,
                                               CheckpointStore& local);

// Downloads "jobs/{job}/checkpoints/{checkpoint}" as plain files under `dir` (created; each file at its relative
// path): for a job's final result, the adapter or model directory to evaluate. Chunks CRC32C-checked, files SHA-256
// verified (DATA_LOSS otherwise); a path that is absolute or holds ".." is DATA_LOSS. Returns the checkpoint's
// metadata.
absl::StatusOr<ftd::v1::Checkpoint> DownloadCheckpointFiles(CoordinatorConnection& connection,
                                                            const std::string& checkpoint, const std::string& dir);

}  // namespace ftd
