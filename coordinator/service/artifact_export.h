// JobService.DownloadArtifact's logic, free of gRPC server types: which stored checkpoint an artifact comes from,
// building it (a merged model through model/peft_adapter.h), and streaming it as a manifest and CRC32C'd chunks.
#pragma once

#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/store/coordinator_store.h"
#include "ftd/v1/job.pb.h"
#include "ftd/v1/job_service.pb.h"

namespace ftd {

// The checkpoint rank 0 uploads when training ends: the job's final result (adapter or full model, provenance.json,
// result.json). DownloadArtifact builds ADAPTER and MERGED_MODEL from it.
inline constexpr char kFinalResultCheckpoint[] = "final";

// DownloadArtifactRequest.source split up: "jobs/{job}" (checkpoint empty) or "jobs/{job}/checkpoints/{checkpoint}".
struct ArtifactSource {
  std::string job_id;
  std::string checkpoint;
};

// INVALID_ARGUMENT naming the field "source" for anything else.
absl::StatusOr<ArtifactSource> ParseArtifactSource(const std::string& source);

// The chunk size a request asks for: 0 -> 1 MiB, else clamped to [64 KiB, 4 MiB - 64 KiB]; negative is
// INVALID_ARGUMENT.
absl::StatusOr<int64_t> ArtifactChunkSize(int32_t requested);

// Streams the artifact `request` asks for from `job` (as stored; request.source must name it) with `send`: the
// ArtifactManifest first (files in stream order with size and sha256), then DataChunks of ArtifactChunkSize bytes
// with their CRC32C, skipping request.offset_bytes of the concatenated files (OUT_OF_RANGE beyond the total).
//
// What is served (job_service.proto, DownloadArtifactRequest):
//   ADAPTER       the final result's files (lora/qlora only; FAILED_PRECONDITION for method full).
//   MERGED_MODEL  lora/qlora: the base model (resolved_spec.base_model, a local HF directory) with the final adapter
//                 merged in a temp directory under `scratch_dir`, removed before returning, followed by the final
//                 result's provenance.json and result.json; full: the final result's files.
//   CHECKPOINT    a named checkpoint as stored; for "jobs/{job}" the best checkpoint, else the newest "step-*".
// FAILED_PRECONDITION while the job has no final result (or no checkpoint), and for ADAPTER / MERGED_MODEL from a
// named training checkpoint. Stored chunks are verified as they are read (DATA_LOSS naming checkpoint and file).
// `send` returning false (the client went away) stops the stream with CANCELLED.
//
// Every file is read twice (once for its sha256, which the manifest carries before any byte, once to send it), a
// stored chunk or 1 MiB of a local file at a time, so memory stays at a few chunks whatever the model's size.
absl::Status StreamArtifact(CoordinatorStore& store, const v1::Job& job, const v1::DownloadArtifactRequest& request,
                            const std::string& scratch_dir,
                            absl::FunctionRef<bool(const v1::DownloadArtifactResponse&)> send);

}  // namespace ftd
