// Whole-file I/O shared by the model file formats: reads with a size bound, atomic writes (readers see the old
// file or the whole new one, never a partial one). Messages start with the path; OS errors keep their codes
// (NOT_FOUND, PERMISSION_DENIED, ...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace ftd {

// "dir/name" (no doubled slash).
std::string JoinPath(absl::string_view dir, absl::string_view name);

// The bytes of a string, for the writers.
absl::Span<const uint8_t> AsBytes(absl::string_view text);

// The whole file; INVALID_ARGUMENT when it is larger than max_bytes (config and index files are small: a
// huge one is a mistake, not something to read into memory).
absl::StatusOr<std::string> ReadFileToString(const std::string& path, uint64_t max_bytes = uint64_t{1} << 30);

// Writes `pieces` to `path` through a unique temp file in the same directory, fsynced, then renamed over
// `path` (and the directory fsynced). On error the temp file is removed and `path` is untouched.
absl::Status WriteFileAtomically(const std::string& path, const std::vector<absl::Span<const uint8_t>>& pieces);

// A non-blank line of a text file and its 1-based number, for "PATH:LINE: reason" messages.
struct NumberedLine {
  int64_t number = 0;
  absl::string_view text;  // Points into the contents it was split from.
};

// The lines of `contents` that hold more than ASCII whitespace (JSONL readers skip blank lines).
std::vector<NumberedLine> NonBlankLines(absl::string_view contents);

// WriteFileAtomically of one string.
absl::Status WriteStringToFile(const std::string& path, absl::string_view contents);

}  // namespace ftd
