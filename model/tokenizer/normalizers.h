// Normalizers from tokenizer.json's "normalizer" (NFC/NFD/NFKC/NFKD, Lowercase, Strip, Prepend, Replace,
// Sequence): text -> text, applied to each piece left after the non-normalized added tokens are split out.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/tokenizer/json_util.h"
#include "model/tokenizer/regex.h"

namespace ftd::tok {

// Immutable; thread-safe.
class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string Normalize(absl::string_view text) const = 0;
};

// A {"String": literal} or {"Regex": pattern} object (Replace, Split) as a compiled regex.
absl::StatusOr<std::unique_ptr<Regex>> ParsePattern(const Json& json, const std::string& path);

// Parses one normalizer object; INVALID_ARGUMENT naming `path` for unknown types or bad fields.
absl::StatusOr<std::unique_ptr<Normalizer>> ParseNormalizer(const Json& json, const std::string& path);

}  // namespace ftd::tok
