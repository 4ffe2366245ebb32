// Strict JSON parsing for files from untrusted sources (safetensors headers, shard indexes): duplicate keys and
// excessive nesting are errors, and nlohmann's exceptions are caught here and nowhere else.
#include "model/strict_json.h"

#include <set>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ftd {
namespace {

using json = nlohmann::json;

// serde_json's recursion limit: the reference safetensors reader rejects deeper headers, and so do we.
constexpr size_t kMaxJsonDepth = 128;

}  // namespace

// Quoted and escaped for messages (names come from hostile files and may hold control characters).
std::string JsonQuote(absl::string_view text) {
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

// Offset of the first byte that is not part of well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF),
// or nullopt when all of `text` is valid.
std::optional<size_t> FirstInvalidUtf8(absl::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // Allowed range of the second byte.
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // Overlong.
      if (c == 0xED) hi = 0x9F;  // Surrogates.
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // Overlong.
      if (c == 0xF4) hi = 0x8F;  // Above U+10FFFF.
    } else {
      return i;
    }
    if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return std::nullopt;
}

// Parses JSON, rejecting what nlohmann would accept silently: duplicate object keys (it keeps the last one)
// and nesting deeper than kMaxJsonDepth. The one place nlohmann's exceptions are caught.
absl::StatusOr<json> ParseJsonStrict(absl::string_view text, absl::string_view what) {
  struct TooDeep {};
  struct Level {
    bool is_object = false;
    std::set<std::string> keys;
    std::string key;  // The key being read at this level.
  };
  std::vector<Level> stack;
  std::string duplicate;  // First duplicate found, as a message.
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (stack.size() >= kMaxJsonDepth) throw TooDeep{};
        stack.push_back(Level{event == json::parse_event_t::object_start, {}, {}});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case json::parse_event_t::key: {
        Level& level = stack.back();
        level.key = parsed.get<std::string>();
        if (!level.keys.insert(level.key).second && duplicate.empty()) {
          duplicate = absl::StrCat("duplicate key ", JsonQuote(level.key));
          if (stack.size() >= 2 && stack[stack.size() - 2].is_object) {
            absl::StrAppend(&duplicate, " in ", JsonQuote(stack[stack.size() - 2].key));
          }
        }
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  json root;
  try {
    root = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true);
  } catch (const TooDeep&) {
    return absl::InvalidArgumentError(absl::StrCat(what, " nests deeper than ", kMaxJsonDepth, " levels"));
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not valid JSON: ", e.what()));
  }
  if (!duplicate.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", duplicate));
  return root;
}

}  // namespace ftd
