// The transfer report as Markdown (see report_markdown.h).
#include "common/report_markdown.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/report_text.h"
#include "common/transfer_verdict.h"

namespace ftd {
namespace {

void AppendRow(std::string* out, const auto& cells) {
  absl::StrAppend(out, "|");
  for (const auto& c : cells) absl::StrAppend(out, " ", MarkdownEscape(c), " |");
  absl::StrAppend(out, "\n");
}

}  // namespace

std::string MarkdownEscape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\' || c == '|' || c == '<' || c == '>' || c == '`') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string RenderMarkdownReport(const TransferReport& report) {
  std::string out = absl::StrCat("# Transfer report: ", MarkdownEscape(report.job_name), "\n\n");
  for (const auto& [label, value] : ReportFacts(report)) {
    absl::StrAppend(&out, "- **", label, ":** ", MarkdownEscape(value), "\n");
  }
  absl::StrAppend(&out, "\n## Benchmarks\n\n");
  AppendRow(&out, kTableHeader);
  absl::StrAppend(&out, "|");
  for (size_t i = 0; i < kTableHeader.size(); ++i) absl::StrAppend(&out, "---|");
  absl::StrAppend(&out, "\n");
  for (const BenchmarkComparison& row : TableComparisons(report)) AppendRow(&out, BuildTableRow(row).cells);
  absl::StrAppend(&out, "\n", kVerdictRuleText, "\n\n");
  for (const std::string& note : report.notes) absl::StrAppend(&out, "Note: ", MarkdownEscape(note), "\n\n");
  absl::StrAppend(&out, MarkdownEscape(TaskGainLine(report.task)), "\n\n");
  absl::StrAppend(&out, EarlyStopLine(report.early_stop), "\n\n## Training curves\n\n");
  for (const std::string& line : CurveSummaryLines(report.curves)) absl::StrAppend(&out, "- ", line, "\n");
  return out;
}

}  // namespace ftd
