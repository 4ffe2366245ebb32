// Several transfer reports as one Markdown comparison table (see report_compare.h).
#include "common/report_compare.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/report_markdown.h"
#include "common/report_text.h"
#include "common/transfer_verdict.h"

namespace ftd {
namespace {

constexpr absl::string_view kMissing = "—";

void AppendRow(std::string* out, const std::vector<std::string>& cells) {
  absl::StrAppend(out, "|");
  for (const std::string& c : cells) absl::StrAppend(out, " ", MarkdownEscape(c), " |");
  absl::StrAppend(out, "\n");
}

// A benchmark column: one metric of one benchmark key.
struct Column {
  std::string benchmark;
  std::string metric;
  std::string header;  // "perplexity/wikitext (word_perplexity ↓)".
};

// Each benchmark key's first row, in report order: the metric the comparison shows for it.
std::vector<const BenchmarkComparison*> Headlines(const TransferReport& report) {
  std::vector<const BenchmarkComparison*> out;
  for (const BenchmarkComparison& row : report.benchmarks) {
    const bool seen = std::any_of(out.begin(), out.end(),
                                  [&](const BenchmarkComparison* h) { return h->benchmark == row.benchmark; });
    if (!seen) out.push_back(&row);
  }
  return out;
}

// "KEY (METRIC ↑)", the key and the metric cell of the single report's table.
std::string RowLabel(const BenchmarkComparison& row) {
  return absl::StrCat(row.benchmark, " (", BuildTableRow(row).cells[1], ")");
}

std::string StepsCell(const TransferReport& report) {
  if (report.early_stop.has_value()) {
    return absl::StrCat(report.early_stop->best_step, " (early-stopped at ", report.early_stop->step, ")");
  }
  if (report.curves.steps.empty()) return std::string(kMissing);
  return absl::StrCat(report.curves.steps.back().step);
}

std::string TaskCell(const std::optional<BenchmarkComparison>& task, bool with_label) {
  if (!task.has_value()) return std::string(kMissing);
  const TableRow r = BuildTableRow(*task);
  return absl::StrCat(with_label ? absl::StrCat(RowLabel(*task), ": ") : "", FormatValue(task->base.value), " → ",
                      FormatValue(task->tuned.value), ", ", r.cells[4], ": ", r.cells[5]);
}

// "delta: verdict" of the column's row in `report`, plus the other metrics of that benchmark judged otherwise.
std::string BenchmarkCell(const TransferReport& report, const Column& column) {
  const std::vector<const BenchmarkComparison*> headlines = Headlines(report);
  const auto it = std::find_if(headlines.begin(), headlines.end(), [&](const BenchmarkComparison* h) {
    return h->benchmark == column.benchmark && h->metric == column.metric;
  });
  if (it == headlines.end()) return std::string(kMissing);
  const TableRow shown = BuildTableRow(**it);
  std::string out = absl::StrCat(shown.cells[4], ": ", shown.cells[5]);
  std::vector<std::string> others;
  for (const BenchmarkComparison& row : report.benchmarks) {
    if (&row == *it || row.benchmark != column.benchmark) continue;
    const TableRow other = BuildTableRow(row);
    if (other.verdict != shown.verdict) others.push_back(absl::StrCat(row.metric, ": ", other.cells[5]));
  }
  if (!others.empty()) absl::StrAppend(&out, " (also ", absl::StrJoin(others, ", "), ")");
  return out;
}

}  // namespace

std::string RenderComparisonMarkdown(const std::vector<TransferReport>& reports) {
  if (reports.empty()) return "No transfer reports to compare.\n";
  std::string out = absl::StrCat("# Transfer comparison: ", reports.size(), " jobs\n\n");

  std::vector<std::string> bases;
  for (const TransferReport& r : reports) {
    if (std::find(bases.begin(), bases.end(), r.base_model) == bases.end()) bases.push_back(r.base_model);
  }
  if (bases.size() == 1) {
    absl::StrAppend(&out, "- **Base model:** ", MarkdownEscape(bases.front()), "\n\n");
  } else {
    std::vector<std::string> each;
    for (const TransferReport& r : reports) each.push_back(absl::StrCat(r.job_name, ": ", r.base_model));
    absl::StrAppend(&out, "Note: the jobs' base models differ (", MarkdownEscape(absl::StrJoin(each, "; ")),
                    "): each row compares a job with its own base, so the comparison is across bases.\n\n");
  }

  // One task header when every task row is the same metric of the same benchmark; else each cell names its own.
  std::optional<std::string> task_label;
  bool same_task = true;
  for (const TransferReport& r : reports) {
    if (!r.task.has_value()) continue;
    const std::string label = RowLabel(*r.task);
    if (task_label.has_value() && *task_label != label) same_task = false;
    if (!task_label.has_value()) task_label = label;
  }
  const std::string task_header =
      same_task && task_label.has_value() ? absl::StrCat("task: ", *task_label) : std::string("task");

  std::vector<Column> columns;
  for (const TransferReport& r : reports) {
    for (const BenchmarkComparison* h : Headlines(r)) {
      const bool seen = std::any_of(columns.begin(), columns.end(), [&](const Column& c) {
        return c.benchmark == h->benchmark && c.metric == h->metric;
      });
      if (!seen) columns.push_back({h->benchmark, h->metric, RowLabel(*h)});
    }
  }

  std::vector<std::string> header = {"job", "method", "steps", task_header};
  for (const Column& c : columns) header.push_back(c.header);
  header.push_back("overall verdict");
  AppendRow(&out, header);
  absl::StrAppend(&out, "|");
  for (size_t i = 0; i < header.size(); ++i) absl::StrAppend(&out, "---|");
  absl::StrAppend(&out, "\n");
  for (const TransferReport& r : reports) {
    std::vector<std::string> cells = {r.job_name, r.method, StepsCell(r), TaskCell(r.task, !same_task)};
    for (const Column& c : columns) cells.push_back(BenchmarkCell(r, c));
    cells.push_back(DescribeOverall(JudgeOverall(r)));
    AppendRow(&out, cells);
  }
  absl::StrAppend(&out, "\n", kVerdictRuleText, "\n");

  std::vector<std::string> notes;
  for (const TransferReport& r : reports) {
    for (const std::string& note : r.notes) {
      if (std::find(notes.begin(), notes.end(), note) == notes.end()) notes.push_back(note);
    }
  }
  for (const std::string& note : notes) absl::StrAppend(&out, "\nNote: ", MarkdownEscape(note), "\n");
  return out;
}

}  // namespace ftd
