// GPT-2's byte-to-unicode map: every byte becomes a printable code point so byte-level BPE vocabularies are
// plain strings. Used by the ByteLevel pre-tokenizer (bytes -> chars) and decoder (chars -> bytes).
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace ftd::tok {

// The pre-tokenizer regex GPT-2 (and HF's ByteLevel with use_regex) splits words with.
inline constexpr char kGpt2SplitRegex[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Maps each byte of `bytes` to its code point and returns the UTF-8 of the result.
std::string BytesToUnicode(absl::string_view bytes);
// The inverse for a whole token: nullopt when some character is not in the map.
std::optional<std::string> UnicodeToBytes(absl::string_view token);

}  // namespace ftd::tok
