// UTF-8 and Unicode helpers for the tokenizer: code point decoding, Rust-compatible lossy UTF-8 repair and
// the character classes (Rust's char::is_whitespace, is_numeric, ...) that HF tokenizers' Rust code uses.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace ftd::tok {

// Decodes the code point starting at text[pos] (text must be valid UTF-8); *len receives its byte length.
char32_t DecodeUtf8(absl::string_view text, size_t pos, int* len);
void AppendUtf8(char32_t cp, std::string* out);
bool IsValidUtf8(absl::string_view bytes);
// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes one U+FFFD.
std::string Utf8Lossy(absl::string_view bytes);

bool IsWhitespace(char32_t cp);    // Rust char::is_whitespace (White_Space property).
bool IsNumeric(char32_t cp);       // Rust char::is_numeric (Nd, Nl, No).
bool IsAlphanumeric(char32_t cp);  // Rust char::is_alphanumeric (approximated by L* and N*).
bool IsPunctuation(char32_t cp);   // HF's is_punc: ASCII punctuation or a P* category.
char32_t ToLower(char32_t cp);

}  // namespace ftd::tok
