// FindProgram: where an external tool (promtool, prometheus) is on PATH, so a test can run it or skip with a
// message when it is absent. Header-only, for the metrics tests in this folder.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace ftd {

// The first executable `name` in $PATH, or "" when there is none.
inline std::string FindProgram(absl::string_view name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace ftd
