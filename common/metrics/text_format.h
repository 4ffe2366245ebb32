// The Prometheus text exposition format 0.0.4, piece by piece: name rules, escaping and number formatting.
// Kept apart from the registry so each rule is tested on its own and any exporter can reuse them.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace ftd {

// The Content-Type a /metrics handler sends with text-format 0.0.4.
inline constexpr absl::string_view kPrometheusTextContentType = "text/plain; version=0.0.4; charset=utf-8";

// [a-zA-Z_:][a-zA-Z0-9_:]* (colons are allowed by Prometheus, meant for recording rules).
bool IsValidMetricName(absl::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*. Names starting with "__" are valid here but reserved by Prometheus: the registry refuses
// them separately.
bool IsValidLabelName(absl::string_view name);

// A sample value (or an `le` bound) as Prometheus parses it: "+Inf", "-Inf", "NaN", otherwise the shortest text
// that reads back as the same double ("42", "0.25", "1e-07").
std::string FormatMetricValue(double value);

// # HELP text: backslash -> \\, newline -> \n. Invalid UTF-8 bytes become U+FFFD (Prometheus rejects them).
std::string EscapeHelpText(absl::string_view text);
// A label value inside double quotes: backslash -> \\, double quote -> \", newline -> \n; invalid UTF-8 as above.
std::string EscapeLabelValue(absl::string_view value);

}  // namespace ftd
