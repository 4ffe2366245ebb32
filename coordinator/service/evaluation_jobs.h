// Stand-alone evaluations (RunEvaluation) run as jobs: the evaluation "evaluations/{id}" is the view of the job
// "jobs/{id}", which trains nothing. Its resolved spec carries the benchmarks and the device, Job.evaluation the
// request; the scheduler places it like any one-rank job, its rank scores request.target and then, when given,
// request.baseline, and the job runtime stores the results and the transfer report as for a training job's battery.
// So queueing, fair share, lost workers, cancelling, metrics and the base-results cache are the jobs' own.
//
// This file holds what the JobService, the worker service and the runtime need of that mapping: the request checked
// and turned into the job's spec, the model each role scores, and the Evaluation view of such a job.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "coordinator/service/path_roots.h"
#include "coordinator/store/coordinator_store.h"
#include "ftd/v1/eval.pb.h"
#include "ftd/v1/evaluation_request.pb.h"
#include "ftd/v1/job.pb.h"
#include "proto/evaluation_target_text.h"  // DescribeTarget, which the users of this header print targets with.

namespace ftd {

// The {id} of "evaluations/{id}" ({id} as a job id); INVALID_ARGUMENT naming `field` otherwise.
absl::StatusOr<std::string> ParseEvaluationName(absl::string_view name, absl::string_view field);
std::string EvaluationName(absl::string_view job_id);

// The job ids of the stored jobs a request's targets name ("jobs/X/checkpoints/final" -> "X"), target first; the
// JobService checks the caller may see each.
std::vector<std::string> TargetJobs(const ftd::v1::RunEvaluationRequest& request);

// What RunEvaluation stores: the request as run (a checkpoint target "jobs/{job}" spelled
// "jobs/{job}/checkpoints/final", world_size 1) and its job's resolved spec: base_model (the target's model, the
// adapter's base, or the source job's base model), method lora (so the scheduler's memory estimate is the weights
// plus activations), the request's device (default cuda), world_size 1, the benchmarks with their defaults.
struct EvaluationPlan {
  ftd::v1::RunEvaluationRequest request;
  ftd::v1::JobSpec spec;
};

// INVALID_ARGUMENT naming the field for a missing target, an empty path, no benchmarks, a malformed benchmark (the
// job spec's rules), world_size other than 0 or 1, an unknown device or an overlong request_id; the paths checked
// against `roots` (target.model_path, target.adapter.*, baseline.*, benchmarks[i].path). A checkpoint target must
// name a job's final result: NOT_FOUND for an unknown job, FAILED_PRECONDITION for another checkpoint or while the
// job has no final result yet.
absl::StatusOr<EvaluationPlan> PlanEvaluation(const ftd::v1::RunEvaluationRequest& request, const PathRoots& roots,
                                              CoordinatorStore& store);

// The model `job`'s EVALUATE rank scores in `role`: a stand-alone evaluation's target (TUNED) or baseline (BASE); for
// a training job its final result (TUNED) or its base model (BASE).
ftd::v1::EvaluationTarget EvaluationTargetFor(const ftd::v1::Job& job, ftd::v1::EvaluationRole role);

// The Evaluation view of a stand-alone evaluation's job: state (QUEUED/RESTARTING -> QUEUED, SCHEDULED/EVALUATING
// -> RUNNING, then the terminal states), progress while RUNNING (`progress`, the rank's latest report, when there is
// one; else the role being scored and the benchmark count), times, error, `results` (the target's, in benchmark
// order; empty until scored) and `report` (when a baseline was scored).
ftd::v1::Evaluation EvaluationView(const ftd::v1::Job& job, std::vector<ftd::v1::BenchmarkResult> results,
                                   std::optional<ftd::v1::TransferReport> report,
                                   std::optional<ftd::v1::EvaluationProgress> progress = std::nullopt);

}  // namespace ftd
