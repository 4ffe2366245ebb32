// Annotate: adds context to an error without changing what the caller should do about it (its code).
#include "common/status_macros.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace ftd {

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace ftd
