// Reading one sample out of a Prometheus text exposition, for tests that scrape a registry directly.
#pragma once

#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"

namespace ftd {

// The value of the sample `series` (name with its labels, as exposed) in `text`; -1 when no line has it.
inline double ExposedValue(const std::string& text, const std::string& series) {
  const std::string prefix = series + " ";
  for (size_t at = 0; at < text.size();) {
    const size_t end = text.find('\n', at);
    const absl::string_view line(text.data() + at, (end == std::string::npos ? text.size() : end) - at);
    if (line.substr(0, prefix.size()) == prefix) return std::atof(std::string(line.substr(prefix.size())).c_str());
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return -1;
}

}  // namespace ftd
