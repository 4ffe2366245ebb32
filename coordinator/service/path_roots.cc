// PathRoots: root canonicalisation at startup and the per-path confinement check (lexical checks first, then
// weakly_canonical and a component-wise prefix test). std::filesystem errors stop here as absl::Status.
#include "coordinator/service/path_roots.h"

#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace ftd {
namespace {

namespace fs = std::filesystem;

// True when `path` equals `root` or lies below it, compared per component, so /data2 is not inside /data. Both are
// normalised absolute paths; an empty trailing component (from a trailing slash) is ignored.
bool IsWithin(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r) {
    if (r->empty()) continue;  // "/data/" iterates as "/", "data", "".
    if (p == path.end() || *p != *r) return false;
    ++p;
  }
  return true;
}

std::string JoinRoots(const std::vector<fs::path>& roots) {
  return absl::StrJoin(roots, ", ", [](std::string* out, const fs::path& root) { out->append(root.string()); });
}

}  // namespace

absl::StatusOr<PathRoots> PathRoots::Create(std::vector<std::string> roots) {
  std::vector<fs::path> canonical;
  canonical.reserve(roots.size());
  for (const std::string& root : roots) {
    const fs::path path(root);
    if (root.empty() || !path.is_absolute()) {
      return absl::InvalidArgumentError(absl::StrCat("allowed root \"", root, "\": must be an absolute path"));
    }
    std::error_code error;
    fs::path resolved = fs::canonical(path, error);
    if (error) {
      return absl::InvalidArgumentError(absl::StrCat("allowed root ", root, ": ", error.message()));
    }
    if (!fs::is_directory(resolved, error)) {
      return absl::InvalidArgumentError(absl::StrCat("allowed root ", root, ": not a directory"));
    }
    canonical.push_back(std::move(resolved));
  }
  return PathRoots(std::move(canonical));
}

absl::Status PathRoots::Check(absl::string_view field, absl::string_view path) const {
  if (roots_.empty()) return absl::OkStatus();
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": path contains a NUL byte"));
  }
  const fs::path given{std::string(path)};
  if (!given.is_absolute()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": path must be absolute, got \"", path, "\""));
  }
  for (const fs::path& component : given) {
    // Refused even when it would resolve inside a root: ".." in a job spec is almost always an escape attempt, and
    // the worker may resolve it differently (after a symlink) than the coordinator does.
    if (component == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": path must not contain \"..\" components, got \"", path, "\""));
    }
  }
  std::error_code error;
  const fs::path resolved = fs::weakly_canonical(given, error).lexically_normal();
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat(field, ": cannot resolve ", path, " (", error.message(),
                                                    "); the allowed roots are (", JoinRoots(roots_), ")"));
  }
  for (const fs::path& root : roots_) {
    if (IsWithin(resolved, root)) return absl::OkStatus();
  }
  const fs::path normal = given.lexically_normal();
  const std::string through =
      resolved == normal ? "" : absl::StrCat(" (resolves to ", resolved.string(), ")");
  return absl::PermissionDeniedError(
      absl::StrCat(field, ": ", path, through, " is outside the allowed roots (", JoinRoots(roots_), ")"));
}

absl::Status CheckJobSpecPaths(const PathRoots& roots, const v1::JobSpec& spec) {
  if (!roots.confined()) return absl::OkStatus();
  // The path fields of JobSpec, named by their YAML keys. tests/coordinator/path_roots_test.cc walks the proto's
  // descriptor and fails when JobSpec gains a string field that is neither listed here nor known not to be a path.
  auto check = [&roots](const std::string& field, const std::string& path) {
    return path.empty() ? absl::OkStatus() : roots.Check(field, path);
  };
  RETURN_IF_ERROR(check("spec.base_model", spec.base_model()));
  for (int i = 0; i < spec.datasets_size(); ++i) {
    RETURN_IF_ERROR(check(absl::StrCat("spec.datasets[", i, "].path"), spec.datasets(i).path()));
  }
  if (spec.has_rehearsal()) RETURN_IF_ERROR(check("spec.rehearsal.path", spec.rehearsal().path()));
  if (spec.has_early_stopping()) {
    RETURN_IF_ERROR(
        check("spec.early_stopping.general_eval_dataset", spec.early_stopping().general_eval_dataset()));
  }
  for (int i = 0; i < spec.benchmarks_size(); ++i) {
    RETURN_IF_ERROR(check(absl::StrCat("spec.benchmarks[", i, "].path"), spec.benchmarks(i).path()));
  }
  return absl::OkStatus();
}

}  // namespace ftd
