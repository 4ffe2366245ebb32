// ReadTextFile: a whole file as a string, with the OS reason and the path in the error: the small files users hand
// the programs (job specs, ftctl's config, ftd's token file and PEM files).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace ftd {

// NOT_FOUND, PERMISSION_DENIED or FAILED_PRECONDITION (e.g. a directory) as "PATH: <strerror>".
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

}  // namespace ftd
