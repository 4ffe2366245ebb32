// HTML escaping for text and attribute values: every string a report renders into HTML or SVG passes through it,
// so a benchmark named "<script>" is shown, never run.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace ftd {

// Replaces & < > " ' with entities (safe in text and in quoted attributes alike) and any other ASCII control
// character but tab and newline with U+FFFD, which HTML forbids raw. Other bytes pass unchanged (UTF-8 passes).
std::string HtmlEscape(absl::string_view s);

}  // namespace ftd
