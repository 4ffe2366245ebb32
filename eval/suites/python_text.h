// The few Python str semantics lm-eval's prompt code relies on, over UTF-8: len() in code points, isspace()
// (the set re's \s and strip() use) and capitalize() (HellaSwag's ctx_b.capitalize()), as CPython 3.11 does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ftd {

// Code points of `text`; an invalid byte becomes U+FFFD (loaders reject invalid UTF-8 before this).
std::vector<char32_t> DecodeUtf8(absl::string_view text);
void AppendUtf8(char32_t code_point, std::string* out);
bool IsValidUtf8(absl::string_view text);

// Python's len(str): code points, not bytes.
int64_t PythonLength(absl::string_view text);

// str.isspace() for one code point: Unicode White_Space plus U+001C..U+001F, the set re's \s matches.
bool IsPythonSpace(char32_t code_point);

// str.strip() with no argument.
absl::string_view PythonStrip(absl::string_view text);

// str.capitalize() as of Python 3.8+: the first character title-cased (full mapping: "ß" -> "Ss"), every
// other character lower-cased (full mapping, with Final_Sigma: a capital sigma ending a word becomes "ς").
std::string PythonCapitalize(absl::string_view text);

}  // namespace ftd
