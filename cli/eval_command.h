// ftctl eval and ftctl evaluation, flag-free: a stand-alone evaluation built from flags (RunEvaluation), optionally
// waited for (GetEvaluation polled until it ends), and an evaluation shown: its state, its target's scores per
// benchmark and, with a baseline, the transfer report's verdict (`ftctl report evaluations/X` renders the whole
// report). Built only with FTD_SERVICE=ON.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/job_client.h"
#include "cli/output_format.h"
#include "ftd/v1/eval.pb.h"

namespace ftd {

struct EvalOptions {
  // The target: exactly one of model (a model directory; with adapter, the adapter's base model) or job (that job's
  // final result).
  std::string model;
  std::string adapter;
  std::string job;
  std::string baseline;  // Optional: a model directory scored as the base of a transfer report.
  // "SUITE=PATH" each (suite: mmlu, hellaswag, piqa, perplexity, task, long_context; PATH may be empty for
  // long_context); limit, num_fewshot and context_lengths apply to each.
  std::vector<std::string> benchmarks;
  int32_t limit = 0;
  int32_t num_fewshot = 0;
  std::vector<int32_t> context_lengths;
  std::string device = "cuda";  // cuda or cpu.
  std::string request_id;
  bool wait = false;
  absl::Duration poll_interval = absl::Seconds(2);
};

// The RunEvaluationRequest the flags describe; INVALID_ARGUMENT naming the flag for no or two targets, an adapter
// without a model, no benchmark, a malformed "SUITE=PATH" or an unknown suite or device.
absl::StatusOr<v1::RunEvaluationRequest> BuildEvaluationRequest(const EvalOptions& options);

// Starts the evaluation and prints its name (kTable) or the Evaluation (kJson). With wait, polls until it ends and
// prints it as `ftctl evaluation` does; returns the final Evaluation (or the started one) for the exit code.
absl::StatusOr<v1::Evaluation> EvalRun(JobClient& client, const EvalOptions& options, OutputFormat format,
                                       std::ostream& out);

// `ftctl evaluation NAME` ("evaluations/ft-000001" or "ft-000001"): prints FormatEvaluation or the JSON.
absl::StatusOr<v1::Evaluation> EvalShow(JobClient& client, const std::string& name, OutputFormat format,
                                        std::ostream& out);

// "evaluations/ft-000003  SUCCEEDED  (job jobs/ft-000003)", target and baseline lines, then a table BENCHMARK,
// METRIC, VALUE, STDERR, N of the target's results, the error when FAILED, and the report's overall verdict with the
// command that renders it.
std::string FormatEvaluation(const v1::Evaluation& evaluation);

// 0 SUCCEEDED, 2 FAILED, 3 CANCELLED, 1 otherwise (as `ftctl watch`).
int EvaluationExitCode(v1::EvaluationState state);

}  // namespace ftd
