// The checkpoint store specs of builds with the service parts: file: and rocksdb:.
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint/file_checkpoint_store.h"
#include "common/checkpoint/rocksdb_checkpoint_store.h"
#include "model/file_io.h"
#include "worker/checkpoint_store_spec.h"

namespace ftd {

std::string DefaultCheckpointStoreSpec(const std::string& output_dir) {
  return "rocksdb:" + JoinPath(output_dir, "checkpoints");
}

absl::StatusOr<std::unique_ptr<CheckpointStore>> OpenCheckpointStoreSpec(absl::string_view spec) {
  absl::string_view path = spec;
  if (absl::ConsumePrefix(&path, "file:") && !path.empty()) return OpenFileCheckpointStore(std::string(path));
  path = spec;
  if (absl::ConsumePrefix(&path, "rocksdb:") && !path.empty()) return OpenRocksDbCheckpointStore(std::string(path));
  return absl::InvalidArgumentError(
      absl::StrCat("--checkpoints ", spec, ": expected file:DIR or rocksdb:DIR"));
}

}  // namespace ftd
