// FileCheckpointStore: checkpoints as directories of chunk files plus MANIFEST.json, each written durably (temp file,
// fsync, rename, fsync of the directory). OS errors become Status here, with the path and errno text.
#include "common/checkpoint/file_checkpoint_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace ftd {
namespace {

constexpr absl::string_view kManifestFile = "MANIFEST.json";
// Temp files are "<final name>.tmp.<pid>.<n>"; no final name contains it, so RemoveOrphans can tell them apart.
constexpr absl::string_view kTempMarker = ".tmp.";

absl::Status OsError(int error_number, absl::string_view path, absl::string_view what) {
  return absl::ErrnoToStatus(error_number, absl::StrCat(path, ": ", what));
}

std::string ChunkFileName(int64_t index) { return absl::StrFormat("chunk-%08d", index); }

// Makes a new directory entry (a rename, a file, a subdirectory) in `dir` durable.
absl::Status FsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return OsError(errno, dir, "cannot open directory to fsync it");
  absl::Status status;
  if (::fsync(fd) != 0) status = OsError(errno, dir, "fsync of directory failed");
  ::close(fd);
  return status;
}

absl::Status WriteAll(int fd, absl::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), std::min<size_t>(bytes.size(), size_t{1} << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return OsError(errno, path, "write failed");
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// dir/name appears whole or not at all, and is durable when this returns OK.
absl::Status WriteFileDurably(const std::string& dir, absl::string_view name, absl::string_view bytes) {
  static std::atomic<uint64_t> counter{0};
  const std::string path = absl::StrCat(dir, "/", name);
  const std::string temp = absl::StrCat(path, kTempMarker, ::getpid(), ".", counter.fetch_add(1));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return OsError(errno, temp, "cannot create temp file");
  absl::Status status = WriteAll(fd, bytes, temp);
  if (status.ok() && ::fsync(fd) != 0) status = OsError(errno, temp, "fsync failed");
  if (::close(fd) != 0 && status.ok()) status = OsError(errno, temp, "close failed");
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = OsError(errno, path, absl::StrCat("cannot rename ", temp, " to it"));
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  return FsyncDir(dir);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return OsError(errno, path, "cannot open");
  std::string bytes;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) bytes.reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status status = OsError(errno, path, "read failed");
      ::close(fd);
      return status;
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

// Whether `path` exists; false also when a component of it is not a directory.
absl::StatusOr<bool> Exists(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return OsError(errno, path, "cannot stat");
}

absl::StatusOr<bool> IsDirectory(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return OsError(errno, path, "cannot stat");
  return S_ISDIR(st.st_mode);
}

// The names in `dir`, but "." and "..".
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) return OsError(errno, dir, "cannot list");
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(handle);
    if (entry == nullptr) break;
    const absl::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  const int error = errno;
  ::closedir(handle);
  if (error != 0) return OsError(error, dir, "cannot list");
  return names;
}

absl::Status RemoveTree(const std::string& path) {
  std::error_code error;
  std::filesystem::remove_all(path, error);
  if (error) return OsError(error.value(), path, "cannot remove");
  return absl::OkStatus();
}

class FileCheckpointStore final : public CheckpointStore {
 public:
  explicit FileCheckpointStore(std::string dir) : dir_(std::move(dir)) {}

  absl::Status PutChunk(absl::string_view checkpoint, int64_t index, absl::string_view bytes) override {
    RETURN_IF_ERROR(ValidateCheckpointName(checkpoint));
    if (index < 0) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint ", checkpoint, ": chunk index ", index, " < 0"));
    }
    ASSIGN_OR_RETURN(const std::string dir, MakeCheckpointDir(checkpoint));
    return WriteFileDurably(dir, ChunkFileName(index), bytes);
  }

  absl::Status CommitManifest(absl::string_view checkpoint, absl::string_view manifest) override {
    RETURN_IF_ERROR(ValidateCheckpointName(checkpoint));
    ASSIGN_OR_RETURN(const std::string dir, MakeCheckpointDir(checkpoint));
    RETURN_IF_ERROR(WriteFileDurably(dir, kManifestFile, manifest));
    // The checkpoint's own directory entry too: its creator may have died before making it durable.
    return FsyncDir(dir_);
  }

  absl::StatusOr<std::string> GetManifest(absl::string_view checkpoint) override {
    RETURN_IF_ERROR(ValidateCheckpointName(checkpoint));
    absl::StatusOr<std::string> manifest = ReadFile(absl::StrCat(CheckpointDir(checkpoint), "/", kManifestFile));
    if (!manifest.ok()) return Annotate(manifest.status(), absl::StrCat("checkpoint ", checkpoint));
    return manifest;
  }

  absl::StatusOr<std::string> GetChunk(absl::string_view checkpoint, int64_t index) override {
    RETURN_IF_ERROR(ValidateCheckpointName(checkpoint));
    if (index < 0) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint ", checkpoint, ": chunk index ", index, " < 0"));
    }
    absl::StatusOr<std::string> chunk =
        ReadFile(absl::StrCat(CheckpointDir(checkpoint), "/", ChunkFileName(index)));
    if (!chunk.ok()) return Annotate(chunk.status(), absl::StrCat("checkpoint ", checkpoint, " chunk ", index));
    return chunk;
  }

  absl::StatusOr<std::vector<std::string>> ListCommitted() override {
    ASSIGN_OR_RETURN(std::vector<std::string> entries, ListDir(dir_));
    std::vector<std::string> committed;
    for (std::string& entry : entries) {
      if (!ValidateCheckpointName(entry).ok()) continue;  // Not ours.
      ASSIGN_OR_RETURN(const bool has_manifest, Exists(absl::StrCat(CheckpointDir(entry), "/", kManifestFile)));
      if (has_manifest) committed.push_back(std::move(entry));
    }
    std::sort(committed.begin(), committed.end());
    return committed;
  }

  absl::Status Delete(absl::string_view checkpoint) override {
    RETURN_IF_ERROR(ValidateCheckpointName(checkpoint));
    const std::string dir = CheckpointDir(checkpoint);
    const std::string manifest = absl::StrCat(dir, "/", kManifestFile);
    if (::unlink(manifest.c_str()) == 0) {
      RETURN_IF_ERROR(FsyncDir(dir));  // From here on, the checkpoint does not exist for any reader.
    } else if (errno != ENOENT) {
      return OsError(errno, manifest, "cannot remove");
    }
    ASSIGN_OR_RETURN(const bool exists, Exists(dir));
    if (!exists) return absl::OkStatus();
    RETURN_IF_ERROR(RemoveTree(dir));
    return FsyncDir(dir_);
  }

  absl::StatusOr<int64_t> RemoveOrphans() override {
    ASSIGN_OR_RETURN(std::vector<std::string> entries, ListDir(dir_));
    int64_t removed = 0;
    for (const std::string& entry : entries) {
      if (!ValidateCheckpointName(entry).ok()) continue;  // Not ours.
      const std::string dir = CheckpointDir(entry);
      ASSIGN_OR_RETURN(const bool is_dir, IsDirectory(dir));
      if (!is_dir) continue;
      ASSIGN_OR_RETURN(const bool committed, Exists(absl::StrCat(dir, "/", kManifestFile)));
      if (!committed) {
        RETURN_IF_ERROR(RemoveTree(dir));
        ++removed;
        continue;
      }
      RETURN_IF_ERROR(RemoveStrayTempFiles(dir));
    }
    if (removed > 0) RETURN_IF_ERROR(FsyncDir(dir_));
    return removed;
  }

 private:
  std::string CheckpointDir(absl::string_view checkpoint) const { return absl::StrCat(dir_, "/", checkpoint); }

  // The checkpoint's directory, created (and made durable) when missing.
  absl::StatusOr<std::string> MakeCheckpointDir(absl::string_view checkpoint) {
    std::string dir = CheckpointDir(checkpoint);
    if (::mkdir(dir.c_str(), 0755) == 0) {
      RETURN_IF_ERROR(FsyncDir(dir_));
    } else if (errno != EEXIST) {
      return OsError(errno, dir, "cannot create checkpoint directory");
    }
    return dir;
  }

  // Temp files of a writer that died between creating and renaming one (in a checkpoint that was later
  // committed by a retry, or the manifest's own temp file).
  static absl::Status RemoveStrayTempFiles(const std::string& dir) {
    ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
    bool removed = false;
    for (const std::string& name : names) {
      if (!absl::StrContains(name, kTempMarker)) continue;
      const std::string path = absl::StrCat(dir, "/", name);
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) return OsError(errno, path, "cannot remove temp file");
      removed = true;
    }
    return removed ? FsyncDir(dir) : absl::OkStatus();
  }

  const std::string dir_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CheckpointStore>> OpenFileCheckpointStore(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("checkpoint store: empty directory path");
  std::error_code error;
  const bool created = std::filesystem::create_directories(dir, error);
  if (error) return OsError(error.value(), dir, "cannot create checkpoint store directory");
  ASSIGN_OR_RETURN(const bool is_dir, IsDirectory(dir));
  if (!is_dir) return OsError(ENOTDIR, dir, "cannot open checkpoint store");
  // Without trailing slashes, so paths in messages read "dir/step-1/chunk-00000000".
  std::string root = dir;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (created) {
    const std::string parent = std::filesystem::path(root).parent_path().string();
    RETURN_IF_ERROR(FsyncDir(parent.empty() ? "." : parent));
  }
  return std::make_unique<FileCheckpointStore>(std::move(root));
}

}  // namespace ftd
