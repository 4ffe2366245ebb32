// RFC 4180 CSV, as the MMLU release files are written (Python's csv module, default dialect): fields quoted
// when they hold a comma, quote or line break; "" inside quotes is one quote; records end in LF or CRLF.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ftd {

// One CSV record and the 1-based line it starts on (a quoted field may span lines).
struct CsvRecord {
  std::vector<std::string> fields;
  int64_t line = 0;
};

// Parses `text`; `file_name` only labels errors. A line break inside quotes belongs to the field (CRLF stays
// CRLF). A final record without a line break is kept; an empty line is an empty record with one empty
// field, as Python's csv.reader returns [] for it — callers reject it by field count. INVALID_ARGUMENT,
// naming file and line, for an unterminated quote or text after a closing quote.
absl::StatusOr<std::vector<CsvRecord>> ParseCsv(absl::string_view text, absl::string_view file_name);

}  // namespace ftd
