// Several transfer reports side by side as one Markdown table, for `ftctl report J1 J2 ...`: a row per job (method,
// steps of the tuned model, the task gain, each general benchmark's change, the overall verdict). Every number and
// verdict comes from report_text.h and transfer_verdict.h, so a cell reads as the same cell of each job's own report.
#pragma once

#include <string>
#include <vector>

#include "common/transfer_report.h"

namespace ftd {

// The comparison, deterministic (the same reports render to the same bytes):
//   a title, the base model (or, when the jobs' base models differ, a note that the comparison is across bases),
//   one table: | job | method | steps | task: KEY (METRIC) | BENCHMARK (METRIC) ... | overall verdict |
//   the verdict rule, then each report's notes once (first occurrence order).
// Cells:
//   steps: the last logged training step, or with an early stop "B (early-stopped at S)" where B is the kept
//     checkpoint's step; "—" when no step was logged (a stand-alone evaluation).
//   task: "base → tuned, delta: verdict" of `report.task` (the report's task gain), with the key and metric
//     prefixed when the jobs' task rows differ; "—" without a task row.
//   benchmarks: a column per (benchmark key, metric) of each benchmark key's first row in report order (the
//     headline, as `task` is the task benchmark's first metric: word_perplexity for perplexity, acc@L per
//     long_context length, acc for the rest), in first-appearance order across the reports; the cell is
//     "delta: verdict", plus "(also METRIC: VERDICT, ...)" naming any other metric of that benchmark whose verdict
//     differs, so the column never hides what the overall verdict counts. "—" when the job lacks that row.
//   overall verdict: DescribeOverall(JudgeOverall(report)).
// With no reports it returns a line saying so.
std::string RenderComparisonMarkdown(const std::vector<TransferReport>& reports);

}  // namespace ftd
