// ReadTextFile over stdio, so errno carries the reason a file could not be read.
#include "common/text_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ftd {

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  auto os_error = [&path](int error) {
    const std::string message = absl::StrCat(path, ": ", std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    if (error == EACCES) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  };
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return os_error(errno);
  std::string text;
  char buffer[1 << 14];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, n);
  const int read_error = std::ferror(file) ? errno : 0;  // EISDIR for a directory.
  std::fclose(file);
  if (read_error != 0) return os_error(read_error);
  return text;
}

}  // namespace ftd
