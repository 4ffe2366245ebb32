// Strict JSON for files from untrusted sources: UTF-8 checking, duplicate keys and deep nesting rejected.
// Internal to ftd_model_io (its header exposes nlohmann::json, which the library links privately).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace ftd {

// `text` quoted and escaped as a JSON string, for messages (names from hostile files may hold control bytes).
std::string JsonQuote(absl::string_view text);

// Offset of the first byte that is not part of well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF),
// or nullopt when all of `text` is valid.
std::optional<size_t> FirstInvalidUtf8(absl::string_view text);

// Parses JSON, rejecting what nlohmann would accept silently: duplicate object keys (it keeps the last one)
// and nesting deeper than 128 levels. INVALID_ARGUMENT messages start with `what` (e.g. the file name).
absl::StatusOr<nlohmann::json> ParseJsonStrict(absl::string_view text, absl::string_view what);

}  // namespace ftd
