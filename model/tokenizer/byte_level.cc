// bytes_to_unicode tables, built once: printable Latin-1 bytes map to themselves, the rest to 256 + n.
#include "model/tokenizer/byte_level.h"

#include <array>
#include <unordered_map>

#include "model/tokenizer/unicode_util.h"

namespace ftd::tok {
namespace {

struct ByteTables {
  std::array<std::string, 256> byte_to_utf8;
  std::unordered_map<char32_t, unsigned char> char_to_byte;
};

const ByteTables& Tables() {
  static const ByteTables* const tables = [] {
    auto* t = new ByteTables();
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
      AppendUtf8(cp, &t->byte_to_utf8[b]);
      t->char_to_byte[cp] = static_cast<unsigned char>(b);
    }
    return t;
  }();
  return *tables;
}

}  // namespace

std::string BytesToUnicode(absl::string_view bytes) {
  const ByteTables& t = Tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += t.byte_to_utf8[static_cast<unsigned char>(c)];
  return out;
}

std::optional<std::string> UnicodeToBytes(absl::string_view token) {
  const ByteTables& t = Tables();
  std::string out;
  out.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    int len = 0;
    const char32_t cp = DecodeUtf8(token, pos, &len);
    auto it = t.char_to_byte.find(cp);
    if (it == t.char_to_byte.end()) return std::nullopt;
    out.push_back(static_cast<char>(it->second));
    pos += len;
  }
  return out;
}

}  // namespace ftd::tok
