// The coordinator's side of checkpoint transfer (WorkerService.PutCheckpoint / GetCheckpoint): an uploaded stream of
// DataChunks checked (offsets, CRC32C, sizes, SHA-256) and stored in the job's CheckpointStore view in the
// checkpoint_io format (manifest committed last), garbage collection of the job's checkpoints, and the stream back
// to a resuming rank. Free of gRPC server types: the handlers pass the stream in as functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/checkpoint/checkpoint_store.h"
#include "ftd/v1/checkpoint.pb.h"
#include "ftd/v1/worker_service.pb.h"

namespace ftd {

// The name of the job's final result (PutCheckpointHeader.final_result), which DownloadArtifact serves.
inline constexpr char kFinalCheckpointName[] = "final";

// "step-00000020": the same name the trainer gives the checkpoint of a step.
std::string StepCheckpointName(int64_t step);

// The Checkpoint a stored checkpoint was uploaded as (its manifest's metadata), with name
// "<job name>/checkpoints/<checkpoint>", chunk_count and size from the manifest. DATA_LOSS when the metadata is
// not what StoreUploadedCheckpoint wrote; NOT_FOUND when there is no such committed checkpoint.
absl::StatusOr<ftd::v1::Checkpoint> ReadStoredCheckpoint(CheckpointStore& store, absl::string_view job_name,
                                                         absl::string_view checkpoint);

// Reads an upload's chunks with `next` (false at the end of the stream) after its `header` and stores them in `store`
// under StepCheckpointName(step) ("<step name>-a<attempt>" when another attempt already stored that step), or "final"
// for a final result (replacing an earlier attempt's). Every chunk must continue its file at the next offset
// (INVALID_ARGUMENT naming the file and offsets otherwise) and match its CRC32C (DATA_LOSS); each file must end at its
// declared size (INVALID_ARGUMENT) with its declared SHA-256 (DATA_LOSS). The manifest is committed only after all of
// it checks out; a failed upload leaves orphan chunks, removed here before returning. A retried upload whose checkpoint
// is already stored with the same files returns the stored one. Returns the Checkpoint as stored (name set). Files are
// held in memory one at a time.
absl::StatusOr<ftd::v1::Checkpoint> StoreUploadedCheckpoint(
    CheckpointStore& store, absl::string_view job_name, const ftd::v1::PutCheckpointHeader& header,
    absl::FunctionRef<bool(ftd::v1::PutCheckpointRequest&)> next, absl::Time now);

// Garbage collection (DESIGN.md, Storage): deletes the job's training checkpoints ("step-*") but the newest
// `keep_latest` (<= 0 keeps all) and `best` (a short name, may be empty); "final" is never deleted.
absl::Status CollectCheckpointGarbage(CheckpointStore& store, int64_t keep_latest, absl::string_view best);

// The newest training checkpoint ("step-*", by name), nullopt when there is none.
absl::StatusOr<std::optional<std::string>> NewestStepCheckpoint(CheckpointStore& store);

// Streams a stored checkpoint: its Checkpoint (from ReadStoredCheckpoint) then DataChunks of at most `chunk_bytes`
// with their CRC32C, skipping the first `offset_bytes` of the concatenated files (OUT_OF_RANGE beyond the end).
// The stored chunks are verified as they are read (DATA_LOSS). `send` returning false (the client went away) stops
// with CANCELLED.
absl::Status SendStoredCheckpoint(CheckpointStore& store, absl::string_view job_name, absl::string_view checkpoint,
                                  int64_t offset_bytes, int64_t chunk_bytes,
                                  absl::FunctionRef<bool(const ftd::v1::GetCheckpointResponse&)> send);

}  // namespace ftd
