// The wire transfer report (ftd.v1.TransferReport) plus its job and the job's events, as the plain-struct report
// common/transfer_report.h defines, so ftctl renders it with the same Markdown/HTML code and verdict rule as the
// rest of ftd. Pure functions of protos; no network. Built only with FTD_SERVICE=ON.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "common/transfer_report.h"
#include "ftd/v1/eval.pb.h"
#include "ftd/v1/job.pb.h"
#include "ftd/v1/job_event.pb.h"

namespace ftd {

// "mmlu", "hellaswag", "perplexity", "long_context", "task", "piqa": the enum's name without its prefix, lower case
// ("unspecified" for UNSPECIFIED).
std::string SuiteName(v1::BenchmarkSuite suite);

// One wire row as a plain row. The key gains "@{context_length}" for a row with a context length whose key does not
// carry it already, so long_context rows stay distinct. Per-side standard errors come from the raw results the
// report carries (base_results / tuned_results: the result of the row's suite and context length whose metric of
// the row's name has the row's value on that side); a side whose result is missing gets delta_stderr / sqrt(2),
// which keeps sqrt(se_base^2 + se_tuned^2) == delta_stderr and so the verdict. An UNSPECIFIED direction is taken
// from the matching result's metric, else inferred from the metric's name (perplexity, bits_per_byte and loss are
// lower-is-better; anything else higher-is-better).
BenchmarkComparison ComparisonFromProto(const v1::MetricComparison& row, const v1::TransferReport& report);

// The training curves and the early stop from a job's events, in any order: rank 0's (or job-level) MetricsSamples
// with train_loss become steps, those with eval_task_loss or eval_general_perplexity become evals (a value not
// measured is NaN); a step logged twice (a restarted attempt repeating it) keeps the later sample. The guardrail
// limit is the EarlyStop event's, else base_general_perplexity x (1 + general_ppl_max_rise) from the job when it
// ran with the guardrail.
TrainingCurves CurvesFromEvents(const v1::Job& job, absl::Span<const v1::JobEvent> events);

// The job's EarlyStop event (the last one, if several); best_step is the step of the CheckpointSaved event of its
// best_checkpoint, else the number ending that checkpoint's name ("step-00000020"), else 0. nullopt without one.
std::optional<EarlyStopRecord> EarlyStopFromEvents(absl::Span<const v1::JobEvent> events);

// The whole report. Rows: every comparison in report order; the first TASK row is `task`, every non-TASK row is a
// benchmark, and further TASK rows (a second task metric) are dropped: the plain report has one task gain, and
// judging a task metric as a general-capability row would call a task loss "negative transfer". Verdicts are not
// copied: renderers judge the plain rows again with common/transfer_verdict.h, which agrees with the wire verdicts
// as long as the service judged them with that same rule (kVerdictZ, no min_items).
TransferReport TransferReportFromProto(const v1::TransferReport& report, const v1::Job& job,
                                       absl::Span<const v1::JobEvent> events);

}  // namespace ftd
