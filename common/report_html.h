// The transfer report as one self-contained HTML page (inline CSS, inline SVG charts, no scripts and no external
// resource of any kind, which its Content-Security-Policy makes the browser enforce) that can be mailed, attached
// to a ticket or opened offline years later. Numbers and words come from report_text.h, so the table matches the
// Markdown exactly; every string is HTML-escaped.
#pragma once

#include <string>

#include "common/transfer_report.h"

namespace ftd {

// Deterministic: the same report renders to the same bytes (no clock, no locale, no hash-ordered containers).
// Charts: task loss (train per step, validation per eval), general perplexity per eval with the guardrail's limit
// as a dashed line (the early stop's limit, else curves.general_ppl_limit), learning rate per step.
std::string RenderHtmlReport(const TransferReport& report);

}  // namespace ftd
