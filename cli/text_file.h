// ReadTextFile: a whole file as a string, with the OS reason and the path in the error, for the files ftctl reads
// (job specs, its config file).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace ftd {

// NOT_FOUND, PERMISSION_DENIED or FAILED_PRECONDITION (e.g. a directory) as "PATH: <strerror>".
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

}  // namespace ftd
