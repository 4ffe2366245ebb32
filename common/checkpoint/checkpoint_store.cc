// The checkpoint-name rule shared by every CheckpointStore and the writer.
#include "common/checkpoint/checkpoint_store.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace ftd {

absl::Status ValidateCheckpointName(absl::string_view name) {
  bool ok = !name.empty() && name != "." && name != "..";
  for (char c : name) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("invalid checkpoint name \"", absl::CHexEscape(name),
                                                 "\": want [A-Za-z0-9._-]+, not \".\" or \"..\""));
}

}  // namespace ftd
