// UTF-8 decoding and character classes; categories come from utf8proc so they follow its Unicode version.
#include "model/tokenizer/unicode_util.h"

#include <utf8proc.h>

namespace ftd::tok {
namespace {

bool IsCont(unsigned char b) { return (b & 0xC0) == 0x80; }

// Length of the valid UTF-8 sequence at bytes[pos], or 0 when invalid; *consumed is how many bytes form the
// maximal invalid subpart (Unicode's "substitution of maximal subparts", which Rust follows).
int ValidSequenceLength(absl::string_view bytes, size_t pos, int* consumed) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  const unsigned char lead = b(pos);
  *consumed = 1;
  if (lead < 0x80) return 1;
  int width = 0;
  if (lead >= 0xC2 && lead <= 0xDF)
    width = 2;
  else if (lead >= 0xE0 && lead <= 0xEF)
    width = 3;
  else if (lead >= 0xF0 && lead <= 0xF4)
    width = 4;
  if (width == 0) return 0;
  const size_t n = bytes.size();
  if (pos + 1 >= n) return 0;
  const unsigned char second = b(pos + 1);
  unsigned char lo = 0x80, hi = 0xBF;
  if (lead == 0xE0) lo = 0xA0;
  if (lead == 0xED) hi = 0x9F;
  if (lead == 0xF0) lo = 0x90;
  if (lead == 0xF4) hi = 0x8F;
  if (second < lo || second > hi) return 0;
  *consumed = 2;
  if (width == 2) return 2;
  if (pos + 2 >= n || !IsCont(b(pos + 2))) return 0;
  *consumed = 3;
  if (width == 3) return 3;
  if (pos + 3 >= n || !IsCont(b(pos + 3))) return 0;
  return 4;
}

utf8proc_category_t Category(char32_t cp) {
  return static_cast<utf8proc_category_t>(utf8proc_category(static_cast<utf8proc_int32_t>(cp)));
}

}  // namespace

char32_t DecodeUtf8(absl::string_view text, size_t pos, int* len) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = b(pos);
  if (lead < 0x80) {
    *len = 1;
    return lead;
  }
  if (lead < 0xE0) {
    *len = 2;
    return ((lead & 0x1F) << 6) | (b(pos + 1) & 0x3F);
  }
  if (lead < 0xF0) {
    *len = 3;
    return ((lead & 0x0F) << 12) | ((b(pos + 1) & 0x3F) << 6) | (b(pos + 2) & 0x3F);
  }
  *len = 4;
  return ((lead & 0x07) << 18) | ((b(pos + 1) & 0x3F) << 12) | ((b(pos + 2) & 0x3F) << 6) |
         (b(pos + 3) & 0x3F);
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsValidUtf8(absl::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (static_cast<unsigned char>(bytes[pos]) < 0x80) {
      ++pos;
      continue;
    }
    int consumed = 0;
    const int len = ValidSequenceLength(bytes, pos, &consumed);
    if (len == 0) return false;
    pos += len;
  }
  return true;
}

std::string Utf8Lossy(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    int consumed = 0;
    const int len = ValidSequenceLength(bytes, pos, &consumed);
    if (len > 0) {
      out.append(bytes.data() + pos, len);
      pos += len;
    } else {
      out.append("\xEF\xBF\xBD");
      pos += consumed;
    }
  }
  return out;
}

bool IsWhitespace(char32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool IsNumeric(char32_t cp) {
  const auto c = Category(cp);
  return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

bool IsAlphanumeric(char32_t cp) {
  const auto c = Category(cp);
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) || IsNumeric(cp);
}

bool IsPunctuation(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
           (cp >= 0x7B && cp <= 0x7E);
  }
  const auto c = Category(cp);
  return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

char32_t ToLower(char32_t cp) {
  return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
}

}  // namespace ftd::tok
