// The transfer report as Markdown, for `ftctl report` and for pasting into a review: facts, the benchmark table,
// the verdict rule under it, the task gain, the early stop and a short curve summary. Numbers and words come from
// report_text.h, so they match the HTML page exactly.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "common/transfer_report.h"

namespace ftd {

// Escapes a string for a Markdown table cell or line: backslash, '|', '<', '>' and '`' get a backslash (so a name
// can neither break the table nor inject HTML where the Markdown is rendered), and control characters, newlines
// included, become spaces (a newline would end the table row).
std::string MarkdownEscape(absl::string_view s);

// Deterministic: the same report renders to the same bytes.
std::string RenderMarkdownReport(const TransferReport& report);

}  // namespace ftd
