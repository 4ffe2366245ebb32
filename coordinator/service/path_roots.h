// PathRoots: confines the filesystem paths a job may name (base model, datasets, benchmarks) to the directories the
// operator allows, so a submitted job cannot make the workers read /etc/shadow or another user's files.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ftd/v1/job_spec.pb.h"

namespace ftd {

// A set of allowed root directories, canonicalised once by Create. An empty set means no confinement: every path
// is allowed, relative ones included (the daemon's behaviour before roots were configured).
//
// Check resolves a path with std::filesystem::weakly_canonical (symlinks of its existing prefix followed), so a
// symlink inside a root that points outside it is refused; a path that does not exist yet is judged by its existing
// prefix. This is the coordinator's view at submit time: a symlink created later, or a worker that mounts another
// filesystem at the same path, is the worker's to check again when it opens the file.
//
// Lifecycle: a value, built once from the daemon's configuration. Threading: immutable after Create, so Check may
// run on any number of threads at once (it only reads the filesystem).
class PathRoots {
 public:
  // No confinement.
  PathRoots() = default;

  // Each root must be an absolute path to an existing directory (INVALID_ARGUMENT naming it otherwise); it is stored
  // canonical (symlinks resolved). An empty list is no confinement.
  static absl::StatusOr<PathRoots> Create(std::vector<std::string> roots);

  // False when every path is allowed.
  bool confined() const { return !roots_.empty(); }
  // The canonical roots, in the order given.
  const std::vector<std::filesystem::path>& roots() const { return roots_; }

  // OK when `path` is allowed. With confinement: INVALID_ARGUMENT for a relative path or one with a ".." component
  // ("spec.base_model: path must be absolute, got \"x\""); PERMISSION_DENIED naming the field, the path, what it
  // resolves to (when that differs) and the roots ("spec.datasets[0].path: /etc/passwd is outside the allowed roots
  // (/srv/models, /srv/data)"), also when the path cannot be resolved (a symlink loop, a prefix we may not search).
  // "Inside" is per component: /data2/x is not inside /data.
  absl::Status Check(absl::string_view field, absl::string_view path) const;

 private:
  explicit PathRoots(std::vector<std::filesystem::path> roots) : roots_(std::move(roots)) {}

  std::vector<std::filesystem::path> roots_;
};

// Checks every filesystem path of a job spec with `roots.Check`, naming each by its YAML key path:
// spec.base_model, spec.datasets[i].path, spec.rehearsal.path, spec.early_stopping.general_eval_dataset,
// spec.benchmarks[i].path. Empty fields are skipped (ValidateJobSpec says which are required). Returns the first
// error in that order.
absl::Status CheckJobSpecPaths(const PathRoots& roots, const v1::JobSpec& spec);

}  // namespace ftd
