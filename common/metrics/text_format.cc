// Prometheus text format 0.0.4 rules: names, escaping, values. See text_format.h.
#include "common/metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace ftd {
namespace {

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// The length of the valid UTF-8 sequence starting at text[i], or 0 when the bytes there are not one (overlong
// forms, surrogates and code points past U+10FFFF included).
size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) return 1;
  // Leading byte 110xxxxx, 1110xxxx or 11110xxx: the sequence length, its payload bits and the smallest code
  // point that needs that length (anything below is an overlong form).
  size_t len = 0;
  uint32_t code_point = 0;
  uint32_t min_code_point = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    code_point = b0 & 0x1F;
    min_code_point = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    code_point = b0 & 0x0F;
    min_code_point = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    code_point = b0 & 0x07;
    min_code_point = 0x10000;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3F);
  }
  if (code_point < min_code_point || code_point > 0x10FFFF) return 0;
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return 0;
  return len;
}

// Copies `text` escaping backslash and newline (and the double quote when `escape_quote`), with every byte that
// does not start a valid UTF-8 sequence replaced by U+FFFD.
std::string Escape(absl::string_view text, bool escape_quote) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
      continue;
    }
    if (len > 1) {
      out.append(text.data() + i, len);
      i += len;
      continue;
    }
    const char c = text[i++];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

bool IsValidMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = IsAsciiLetter(c) || c == '_' || c == ':' || (i > 0 && IsAsciiDigit(c));
    if (!ok) return false;
  }
  return true;
}

bool IsValidLabelName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = IsAsciiLetter(c) || c == '_' || (i > 0 && IsAsciiDigit(c));
    if (!ok) return false;
  }
  return true;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Shortest round-trip form; Go's strconv.ParseFloat (Prometheus's parser) reads every form to_chars writes.
  char buffer[64];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string EscapeHelpText(absl::string_view text) { return Escape(text, /*escape_quote=*/false); }

std::string EscapeLabelValue(absl::string_view value) { return Escape(value, /*escape_quote=*/true); }

}  // namespace ftd
