// PlanEvaluation, EvaluationTargetFor and EvaluationView: stand-alone evaluations as jobs.
#include "coordinator/service/evaluation_jobs.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/job_spec_defaults.h"
#include "common/job_spec_validate.h"
#include "common/status_macros.h"
#include "coordinator/service/checkpoint_transfer.h"
#include "coordinator/service/resource_names.h"

namespace ftd {
namespace {

constexpr absl::string_view kEvaluationsPrefix = "evaluations/";
constexpr absl::string_view kCheckpointsInfix = "/checkpoints/";
constexpr size_t kMaxRequestIdLength = 128;

// "jobs/X" or "jobs/X/checkpoints/final" -> ("X", "jobs/X/checkpoints/final"); INVALID_ARGUMENT naming `field` for
// anything else that is not a job name, FAILED_PRECONDITION for another checkpoint of a job.
absl::StatusOr<std::pair<std::string, std::string>> FinalResultOf(absl::string_view checkpoint,
                                                                  absl::string_view field) {
  absl::string_view job_name = checkpoint;
  std::string name(checkpoint);
  if (const size_t at = checkpoint.find(kCheckpointsInfix); at != absl::string_view::npos) {
    job_name = checkpoint.substr(0, at);
    const absl::string_view which = checkpoint.substr(at + kCheckpointsInfix.size());
    if (which != kFinalCheckpointName) {
      return absl::FailedPreconditionError(absl::StrCat(
          field, ": only a job's final result can be scored (", job_name, "/checkpoints/final, or ", job_name,
          "); checkpoint \"", which, "\" holds training state, not a loadable model: export it with ftctl export"));
    }
  } else {
    name = absl::StrCat(checkpoint, kCheckpointsInfix, kFinalCheckpointName);
  }
  ASSIGN_OR_RETURN(std::string id, ParseJobName(job_name, field));
  return std::make_pair(std::move(id), std::move(name));
}

// Checks one target (its paths against `roots`, a checkpoint's job and final result) and spells its checkpoint in
// full. Sets `base_model` to the model it is built on.
absl::Status CheckTarget(ftd::v1::EvaluationTarget& target, absl::string_view field, const PathRoots& roots,
                         CoordinatorStore& store, std::string& base_model) {
  switch (target.target_case()) {
    case ftd::v1::EvaluationTarget::kModelPath:
      if (target.model_path().empty()) return absl::InvalidArgumentError(absl::StrCat(field, ".model_path: required"));
      RETURN_IF_ERROR(roots.Check(absl::StrCat(field, ".model_path"), target.model_path()));
      base_model = target.model_path();
      return absl::OkStatus();
    case ftd::v1::EvaluationTarget::kAdapter: {
      const ftd::v1::AdapterTarget& adapter = target.adapter();
      if (adapter.base_model().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".adapter.base_model: required"));
      }
      if (adapter.adapter_path().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".adapter.adapter_path: required"));
      }
      RETURN_IF_ERROR(roots.Check(absl::StrCat(field, ".adapter.base_model"), adapter.base_model()));
      RETURN_IF_ERROR(roots.Check(absl::StrCat(field, ".adapter.adapter_path"), adapter.adapter_path()));
      base_model = adapter.base_model();
      return absl::OkStatus();
    }
    case ftd::v1::EvaluationTarget::kCheckpoint: {
      const std::string checkpoint_field = absl::StrCat(field, ".checkpoint");
      ASSIGN_OR_RETURN(const auto final_result, FinalResultOf(target.checkpoint(), checkpoint_field));
      const auto& [job_id, name] = final_result;
      absl::StatusOr<ftd::v1::Job> job = store.GetJob(job_id);
      if (!job.ok()) return JobNotFoundAs(job.status(), JobName(job_id));
      ASSIGN_OR_RETURN(const std::unique_ptr<CheckpointStore> checkpoints, store.Checkpoints(job_id));
      absl::StatusOr<ftd::v1::Checkpoint> stored =
          ReadStoredCheckpoint(*checkpoints, job->name(), kFinalCheckpointName);
      if (absl::IsNotFound(stored.status())) {
        return absl::FailedPreconditionError(
            absl::StrCat(checkpoint_field, ": ", job->name(), " has no final result yet (state ",
                         absl::StripPrefix(ftd::v1::JobState_Name(job->state()), "JOB_STATE_"), ")"));
      }
      RETURN_IF_ERROR(stored.status());
      target.set_checkpoint(name);
      base_model = job->resolved_spec().base_model();
      return absl::OkStatus();
    }
    case ftd::v1::EvaluationTarget::TARGET_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": required (one of model_path, adapter {base_model, adapter_path}, checkpoint)"));
}

ftd::v1::EvaluationState StateOf(ftd::v1::JobState state) {
  switch (state) {
    case ftd::v1::JOB_STATE_QUEUED:
    case ftd::v1::JOB_STATE_RESTARTING:
      return ftd::v1::EVALUATION_STATE_QUEUED;
    case ftd::v1::JOB_STATE_SUCCEEDED:
      return ftd::v1::EVALUATION_STATE_SUCCEEDED;
    case ftd::v1::JOB_STATE_FAILED:
      return ftd::v1::EVALUATION_STATE_FAILED;
    case ftd::v1::JOB_STATE_CANCELLED:
      return ftd::v1::EVALUATION_STATE_CANCELLED;
    default:
      return ftd::v1::EVALUATION_STATE_RUNNING;
  }
}

}  // namespace

absl::StatusOr<std::string> ParseEvaluationName(absl::string_view name, absl::string_view field) {
  absl::string_view id = name;
  if (absl::ConsumePrefix(&id, kEvaluationsPrefix)) {
    absl::StatusOr<std::string> parsed = ParseJobName(absl::StrCat("jobs/", id), field);
    if (parsed.ok()) return parsed;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": \"", name, "\" is not an evaluation name like evaluations/{id} ({id}: [a-z][a-z0-9-]{0,62})"));
}

std::string EvaluationName(absl::string_view job_id) { return absl::StrCat(kEvaluationsPrefix, job_id); }

std::vector<std::string> TargetJobs(const ftd::v1::RunEvaluationRequest& request) {
  std::vector<std::string> jobs;
  for (const ftd::v1::EvaluationTarget* target : {&request.target(), &request.baseline()}) {
    if (target->target_case() != ftd::v1::EvaluationTarget::kCheckpoint) continue;
    absl::StatusOr<std::pair<std::string, std::string>> final_result = FinalResultOf(target->checkpoint(), "target");
    if (final_result.ok()) jobs.push_back(final_result->first);
  }
  return jobs;
}

absl::StatusOr<EvaluationPlan> PlanEvaluation(const ftd::v1::RunEvaluationRequest& request, const PathRoots& roots,
                                              CoordinatorStore& store) {
  EvaluationPlan plan;
  plan.request = request;
  ftd::v1::RunEvaluationRequest& run = plan.request;
  if (run.world_size() != 0 && run.world_size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("world_size: a stand-alone evaluation runs on one rank today, got ", run.world_size()));
  }
  run.set_world_size(1);
  if (!ftd::v1::Device_IsValid(run.device())) {
    return absl::InvalidArgumentError(absl::StrCat("device: unknown value ", run.device()));
  }
  if (run.request_id().size() > kMaxRequestIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("request_id: at most ", kMaxRequestIdLength, " characters"));
  }
  if (run.benchmarks().empty()) return absl::InvalidArgumentError("benchmarks: at least one is required");
  for (int i = 0; i < run.benchmarks_size(); ++i) {
    const std::string field = absl::StrCat("benchmarks[", i, "]");
    RETURN_IF_ERROR(ValidateBenchmark(run.benchmarks(i), field));
    if (!run.benchmarks(i).path().empty()) {
      RETURN_IF_ERROR(roots.Check(absl::StrCat(field, ".path"), run.benchmarks(i).path()));
    }
  }
  std::string base_model;
  RETURN_IF_ERROR(CheckTarget(*run.mutable_target(), "target", roots, store, base_model));
  if (run.has_baseline()) {
    std::string unused;
    RETURN_IF_ERROR(CheckTarget(*run.mutable_baseline(), "baseline", roots, store, unused));
  }

  ftd::v1::JobSpec& spec = plan.spec;
  spec.set_name("evaluation");
  spec.set_base_model(base_model);
  spec.set_method(ftd::v1::METHOD_LORA);
  spec.set_device(run.device());
  spec.set_world_size(1);
  spec.set_max_restarts(3);
  *spec.mutable_benchmarks() = run.benchmarks();
  ApplyJobSpecDefaults(&spec);
  return plan;
}

ftd::v1::EvaluationTarget EvaluationTargetFor(const ftd::v1::Job& job, ftd::v1::EvaluationRole role) {
  if (job.has_evaluation()) {
    return role == ftd::v1::EVALUATION_ROLE_BASE ? job.evaluation().baseline() : job.evaluation().target();
  }
  ftd::v1::EvaluationTarget target;
  if (role == ftd::v1::EVALUATION_ROLE_BASE) {
    target.set_model_path(job.resolved_spec().base_model());
  } else {
    target.set_checkpoint(absl::StrCat(job.name(), kCheckpointsInfix, kFinalCheckpointName));
  }
  return target;
}

ftd::v1::Evaluation EvaluationView(const ftd::v1::Job& job, std::vector<ftd::v1::BenchmarkResult> results,
                                   std::optional<ftd::v1::TransferReport> report,
                                   std::optional<ftd::v1::EvaluationProgress> progress) {
  ftd::v1::Evaluation evaluation;
  const absl::string_view id = absl::StripPrefix(job.name(), "jobs/");
  evaluation.set_name(EvaluationName(id));
  evaluation.set_job(job.name());
  *evaluation.mutable_request() = job.evaluation();
  evaluation.set_state(StateOf(job.state()));
  if (evaluation.state() == ftd::v1::EVALUATION_STATE_RUNNING) {
    if (progress.has_value()) *evaluation.mutable_progress() = *std::move(progress);
    evaluation.mutable_progress()->set_role(job.evaluation_role());
    evaluation.mutable_progress()->set_benchmark_count(job.resolved_spec().benchmarks_size());
  }
  *evaluation.mutable_create_time() = job.create_time();
  if (job.has_end_time()) *evaluation.mutable_end_time() = job.end_time();
  for (ftd::v1::BenchmarkResult& result : results) *evaluation.add_results() = std::move(result);
  if (report.has_value()) *evaluation.mutable_report() = *std::move(report);
  if (job.state() == ftd::v1::JOB_STATE_FAILED) *evaluation.mutable_error() = job.error();
  return evaluation;
}

}  // namespace ftd
