// Typed field access on nlohmann::json that reports problems as INVALID_ARGUMENT naming the JSON path,
// so the tokenizer.json parsers never throw.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace ftd::tok {

using Json = nlohmann::json;

inline absl::Status JsonError(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

inline std::string JoinPath(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

inline std::string IndexPath(absl::string_view path, size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

// Required string field.
inline absl::StatusOr<std::string> GetString(const Json& obj, const char* key, absl::string_view path) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) {
    return JsonError(JoinPath(path, key), "expected a string");
  }
  return it->get<std::string>();
}

// Optional string field: nullopt when absent or null.
inline absl::StatusOr<std::optional<std::string>> GetOptionalString(const Json& obj, const char* key,
                                                                    absl::string_view path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return JsonError(JoinPath(path, key), "expected a string");
  return std::optional<std::string>(it->get<std::string>());
}

inline absl::StatusOr<bool> GetBool(const Json& obj, const char* key, bool default_value,
                                    absl::string_view path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return default_value;
  if (!it->is_boolean()) return JsonError(JoinPath(path, key), "expected a boolean");
  return it->get<bool>();
}

inline absl::StatusOr<int64_t> GetInt(const Json& obj, const char* key, int64_t default_value,
                                      absl::string_view path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return default_value;
  if (!it->is_number_integer()) return JsonError(JoinPath(path, key), "expected an integer");
  return it->get<int64_t>();
}

// Required array field.
inline absl::StatusOr<const Json*> GetArray(const Json& obj, const char* key, absl::string_view path) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) return JsonError(JoinPath(path, key), "expected an array");
  return &*it;
}

}  // namespace ftd::tok
