// The checkpoint store specs of the compute-only build: file: only (RocksDB does not travel to bare GPU machines).
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint/file_checkpoint_store.h"
#include "model/file_io.h"
#include "worker/checkpoint_store_spec.h"

namespace ftd {

std::string DefaultCheckpointStoreSpec(const std::string& output_dir) {
  return "file:" + JoinPath(output_dir, "checkpoints");
}

absl::StatusOr<std::unique_ptr<CheckpointStore>> OpenCheckpointStoreSpec(absl::string_view spec) {
  absl::string_view path = spec;
  if (absl::ConsumePrefix(&path, "file:") && !path.empty()) return OpenFileCheckpointStore(std::string(path));
  if (absl::StartsWith(spec, "rocksdb:")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--checkpoints ", spec, ": this ftd-worker was built without RocksDB (FTD_SERVICE=OFF); use file:DIR"));
  }
  return absl::InvalidArgumentError(absl::StrCat("--checkpoints ", spec, ": expected file:DIR"));
}

}  // namespace ftd
