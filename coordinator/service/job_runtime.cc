// JobRuntime: rank reports, checkpoint transfer, lost workers and restarts (see job_runtime.h).
#include "coordinator/service/job_runtime.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "coordinator/service/checkpoint_transfer.h"
#include "coordinator/service/evaluation_jobs.h"
#include "coordinator/service/job_metrics.h"
#include "coordinator/service/job_updates.h"
#include "coordinator/service/resource_names.h"
#include "coordinator/service/transfer_report_builder.h"
#include "coordinator/service/worker_service.h"

namespace ftd {
namespace {

bool HoldsRank(const v1::Job& job, int32_t rank, absl::string_view worker) {
  for (const v1::RankPlacement& placement : job.placement()) {
    if (placement.rank() == rank && placement.worker() == worker) return true;
  }
  return false;
}

absl::Status NotCurrent(const v1::Job& job, int32_t attempt, int32_t rank, absl::string_view worker) {
  std::string why;
  if (IsTerminal(job.state())) {
    why = absl::StrCat("the job is ", v1::JobState_Name(job.state()));
  } else if (job.restart_count() != attempt) {
    why = absl::StrCat("the current attempt is ", job.restart_count());
  } else {
    why = absl::StrCat("rank ", rank, " is not placed on ", worker);
  }
  return absl::FailedPreconditionError(
      absl::StrCat("attempt ", attempt, " rank ", rank, " of ", job.name(), " is no longer current (", why, ")"));
}

// The job-level progress a rank-0 sample carries.
void ApplyProgress(const v1::MetricsSample& sample, v1::JobProgress& progress) {
  progress.set_step(std::max(progress.step(), sample.step()));
  if (sample.has_epoch()) progress.set_epoch(sample.epoch());
  if (sample.has_tokens_seen()) progress.set_tokens_seen(sample.tokens_seen());
  if (sample.has_train_loss()) progress.set_train_loss(sample.train_loss());
  if (sample.has_tokens_per_second()) progress.set_tokens_per_second(sample.tokens_per_second());
  if (sample.has_eval_task_loss()) {
    progress.set_eval_task_loss(sample.eval_task_loss());
    progress.set_last_eval_step(sample.step());
  }
  if (sample.has_eval_general_perplexity()) {
    progress.set_eval_general_perplexity(sample.eval_general_perplexity());
    if (sample.step() == 0) progress.set_base_general_perplexity(sample.eval_general_perplexity());
  }
  if (auto total = sample.extra().find("total_steps"); total != sample.extra().end()) {
    progress.set_total_steps(static_cast<int64_t>(total->second));
  }
  if (auto seconds = sample.extra().find("step_seconds"); seconds != sample.extra().end() &&
                                                          progress.total_steps() > progress.step()) {
    const double left = seconds->second * static_cast<double>(progress.total_steps() - progress.step());
    progress.mutable_eta()->set_seconds(static_cast<int64_t>(left));
  }
}

// The rank's EarlyStop, with the job's best checkpoint, recorded as an event; returned for the messages.
v1::EarlyStop RecordEarlyStop(const v1::Job& job, std::vector<v1::JobEvent>& events, v1::EarlyStop stop) {
  if (!job.best_checkpoint().empty()) stop.set_best_checkpoint(job.best_checkpoint());
  *events.emplace_back().mutable_early_stop() = stop;
  return stop;
}

std::string EarlyStopMessage(const v1::EarlyStop& stop) {
  return absl::StrCat("general perplexity ", stop.general_perplexity(), " over the limit ", stop.limit(), " at step ",
                      stop.step());
}

}  // namespace

JobRuntime::JobRuntime(CoordinatorStore& store, JobEvents& events, CoordinatorWorkerService& workers,
                       std::function<absl::Time()> clock, JobRuntimeOptions options)
    : store_(store), events_(events), workers_(workers), clock_(std::move(clock)), options_(options) {}

absl::StatusOr<v1::ReportMetricsResponse> JobRuntime::Report(const v1::ReportMetricsRequest& request) {
  if (absl::StartsWith(request.job(), "evaluations/")) {
    return absl::UnimplementedError("stand-alone evaluations come with the benchmark battery");
  }
  ASSIGN_OR_RETURN(const std::string job_id, ParseJobName(request.job(), "job"));
  if (request.batch_sequence() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("batch_sequence: must be >= 1, got ", request.batch_sequence()));
  }
  ASSIGN_OR_RETURN(const v1::Job current, store_.GetJob(job_id));
  // A stand-alone evaluation's rank scores from its first report on (SCHEDULED -> EVALUATING below).
  const bool evaluating = current.state() == v1::JOB_STATE_EVALUATING ||
                          (current.has_evaluation() && current.state() == v1::JOB_STATE_SCHEDULED);
  // An evaluation rank's batches restart at 1: its phase (the role it scores) is part of the dedup key.
  const auto key = std::make_tuple(request.job(), request.attempt(), request.rank(),
                                   evaluating ? static_cast<int>(current.evaluation_role()) : 0);
  {
    absl::MutexLock lock(&mu_);
    auto it = acked_.find(key);
    if (it != acked_.end() && request.batch_sequence() <= it->second) {
      v1::ReportMetricsResponse response;
      response.set_acked_batch_sequence(it->second);
      return response;  // A retry of an applied batch.
    }
  }
  const v1::RankState state = request.has_status() ? request.status().state() : v1::RANK_STATE_UNSPECIFIED;
  const bool rank0 = request.rank() == 0;
  EvaluationStep evaluation;
  if (state == v1::RANK_STATE_DONE && rank0 && evaluating) {
    ASSIGN_OR_RETURN(evaluation, RecordEvaluation(current, request));
  } else if ((state == v1::RANK_STATE_DONE || state == v1::RANK_STATE_EARLY_STOPPED) && rank0) {
    // Both end with the final result uploaded (for an early stop, the best checkpoint's weights), which the battery
    // scores and export serves.
    ASSIGN_OR_RETURN(const std::unique_ptr<CheckpointStore> checkpoints, store_.Checkpoints(job_id));
    absl::StatusOr<v1::Checkpoint> final_result = ReadStoredCheckpoint(*checkpoints, request.job(),
                                                                      kFinalCheckpointName);
    if (absl::IsNotFound(final_result.status()) ||
        (final_result.ok() && final_result->attempt() != request.attempt())) {
      return absl::FailedPreconditionError(absl::StrCat("rank 0 of ", request.job(), " attempt ", request.attempt(),
                                                        " reported ", v1::RankState_Name(state),
                                                        " before uploading its final result"));
    }
    RETURN_IF_ERROR(final_result.status());
  }
  const absl::Time now = clock_();
  v1::JobState ended = v1::JOB_STATE_UNSPECIFIED;  // The terminal state this report moved the job into, if any.
  bool start_evaluation = false;  // The job needs an EVALUATE rank now (the tuned model, or then the base one).
  ASSIGN_OR_RETURN(const v1::Job job, UpdateJobAndPublish(store_, events_, job_id, now,
                                                          [&](v1::Job& job, std::vector<v1::JobEvent>& events) {
    if (IsTerminal(job.state()) || job.restart_count() != request.attempt() ||
        !HoldsRank(job, request.rank(), request.worker())) {
      return NotCurrent(job, request.attempt(), request.rank(), request.worker());
    }
    for (const v1::MetricsSample& sample : request.metrics()) {
      v1::MetricsSample& recorded = *events.emplace_back().mutable_metrics();
      recorded = sample;
      recorded.set_rank(request.rank());
      if (rank0) ApplyProgress(sample, *job.mutable_progress());
    }
    for (const v1::LogLine& line : request.logs()) {
      v1::LogLine& recorded = *events.emplace_back().mutable_log();
      recorded = line;
      recorded.set_rank(request.rank());
      if (!recorded.has_time()) *recorded.mutable_time() = ToProtoTime(now);
    }
    // An EVALUATE rank's progress through its benchmarks, for WatchJob and GetEvaluation.
    if (rank0 && evaluating && request.has_evaluation_progress()) {
      *events.emplace_back().mutable_evaluation_progress() = request.evaluation_progress();
    }
    if (state == v1::RANK_STATE_FAILED) return absl::OkStatus();
    if (job.state() == v1::JOB_STATE_SCHEDULED && job.has_evaluation()) {
      RETURN_IF_ERROR(CheckTransition(job.state(), v1::JOB_STATE_EVALUATING));
      RecordStateChange(job, events, v1::JOB_STATE_EVALUATING, "EvaluationStarted",
                        absl::StrCat("scoring ", DescribeTarget(job.evaluation().target())), now);
    } else if (job.state() == v1::JOB_STATE_SCHEDULED) {
      RETURN_IF_ERROR(CheckTransition(job.state(), v1::JOB_STATE_RUNNING));
      RecordStateChange(job, events, v1::JOB_STATE_RUNNING, "RanksStarted",
                        absl::StrCat("rank ", request.rank(), " reported",
                                     state == v1::RANK_STATE_UNSPECIFIED ? "" : " ", 
                                     state == v1::RANK_STATE_UNSPECIFIED ? "" : v1::RankState_Name(state)),
                        now);
    }
    if (state == v1::RANK_STATE_UNSPECIFIED) return absl::OkStatus();
    if (!rank0) return absl::OkStatus();
    if (state == v1::RANK_STATE_DONE && job.state() == v1::JOB_STATE_EVALUATING) {
      if (job.evaluation_role() != current.evaluation_role()) {
        return absl::AbortedError("the evaluation moved on meanwhile");
      }
      if (evaluation.done) {
        // An early-stopped job ends as what it is, now with its result scored.
        ended = job.stopped_early() ? v1::JOB_STATE_EARLY_STOPPED : v1::JOB_STATE_SUCCEEDED;
        RecordStateChange(job, events, ended, "Evaluated", evaluation.summary, now);
        job.clear_evaluation_role();
      } else {
        job.set_evaluation_role(v1::EVALUATION_ROLE_BASE);
        v1::LogLine& line = *events.emplace_back().mutable_log();
        line.set_level(v1::LOG_LEVEL_INFO);
        line.set_text("the tuned model is scored; scoring the base model");
        *line.mutable_time() = ToProtoTime(now);
        start_evaluation = true;
      }
    } else if (job.state() == v1::JOB_STATE_RUNNING &&
               (state == v1::RANK_STATE_DONE ||
                (state == v1::RANK_STATE_EARLY_STOPPED && !job.resolved_spec().benchmarks().empty()))) {
      if (state == v1::RANK_STATE_EARLY_STOPPED) {
        const v1::EarlyStop stop = RecordEarlyStop(job, events, request.status().early_stop());
        job.set_stopped_early(true);
        RecordStateChange(job, events, v1::JOB_STATE_EVALUATING, "GeneralPerplexityRose",
                          absl::StrCat(EarlyStopMessage(stop), "; scoring the result (the best checkpoint's weights)"),
                          now);
      } else {
        RecordStateChange(job, events, v1::JOB_STATE_EVALUATING, "TrainingDone",
                          absl::StrCat("trained ", request.status().step(), " steps"), now);
      }
      if (job.resolved_spec().benchmarks().empty()) {
        RecordStateChange(job, events, v1::JOB_STATE_SUCCEEDED, "Succeeded", "no benchmarks requested", now);
        ended = v1::JOB_STATE_SUCCEEDED;
      } else {
        // The battery runs on rank 0's worker: it keeps that slot, the others are free.
        v1::RankPlacement rank0_placement;
        for (const v1::RankPlacement& placement : job.placement()) {
          if (placement.rank() == 0) rank0_placement = placement;
        }
        job.clear_placement();
        *job.add_placement() = rank0_placement;
        job.set_evaluation_role(v1::EVALUATION_ROLE_TUNED);
        start_evaluation = true;
      }
    } else if (state == v1::RANK_STATE_EARLY_STOPPED && job.state() == v1::JOB_STATE_RUNNING) {
      const v1::EarlyStop stop = RecordEarlyStop(job, events, request.status().early_stop());
      job.set_stopped_early(true);
      RecordStateChange(job, events, v1::JOB_STATE_EARLY_STOPPED, "GeneralPerplexityRose", EarlyStopMessage(stop),
                        now);
      ended = v1::JOB_STATE_EARLY_STOPPED;
    }
    return absl::OkStatus();
  }));
  if (start_evaluation && job.placement_size() == 1) {
    v1::WorkerCommand command;
    *command.mutable_run_rank() = RunRankFor(job, job.placement(0));
    workers_.QueueCommand(job.placement(0).worker(), std::move(command));
  }
  if ((ended != v1::JOB_STATE_UNSPECIFIED || start_evaluation) && options_.on_slots_changed) {
    options_.on_slots_changed();
  }
  if (options_.metrics != nullptr) {
    if (rank0) {
      for (const v1::MetricsSample& sample : request.metrics()) options_.metrics->Sample(request.job(), sample);
    }
    if (ended != v1::JOB_STATE_UNSPECIFIED) options_.metrics->Finished(ended);
    if (ended == v1::JOB_STATE_EARLY_STOPPED) options_.metrics->EarlyStopped("GeneralPerplexityRose");
  }
  if (state == v1::RANK_STATE_FAILED) {
    v1::JobError error = request.status().error();
    const absl::Status cause(static_cast<absl::StatusCode>(request.status().error_status_code()),
                             request.status().error().message());
    error.set_code(ClassifyRankError(cause.ok() ? absl::UnknownError(error.message()) : cause));
    error.set_rank(request.rank());
    error.set_step(request.status().step());
    *error.mutable_time() = ToProtoTime(now);
    if (error.message().empty()) error.set_message(absl::StrCat("rank ", request.rank(), " failed"));
    error.set_message(absl::StrCat("rank ", request.rank(), " (", request.worker(), "): ", error.message()));
    RETURN_IF_ERROR(FailAttempt(job_id, request.attempt(), error));
  }
  absl::MutexLock lock(&mu_);
  int64_t& acked = acked_[key];
  acked = std::max(acked, request.batch_sequence());
  v1::ReportMetricsResponse response;
  response.set_acked_batch_sequence(acked);
  return response;
}

namespace {

constexpr char kBaseCacheJob[] = "basecache";  // Pseudo job id under which base results are cached.

// "base/000", "tuned/003": a job's stored result names, in benchmark order.
std::string ResultName(v1::EvaluationRole role, int index) {
  return absl::StrFormat("%s/%03d", role == v1::EVALUATION_ROLE_BASE ? "base" : "tuned", index);
}

// The cache key of one benchmark's results on a model: the model's and the data's content hashes (the worker's,
// worker/service/content_hash.h) and the benchmark's settings other than its path. So a training job's base model and
// an evaluation's baseline with the same bytes share entries wherever they live, and an edited file misses. Empty
// (not cached) when either hash is unknown.
std::string BaseCacheKey(absl::string_view model_sha256, const v1::Benchmark& benchmark,
                         absl::string_view data_sha256) {
  if (model_sha256.empty() || (data_sha256.empty() && !benchmark.path().empty())) return std::string();
  v1::Benchmark settings = benchmark;
  settings.clear_path();
  std::string bytes;
  settings.SerializeToString(&bytes);  // Deterministic for one build: same fields, same order.
  return Sha256Hex(absl::StrCat(model_sha256, "\n", data_sha256, "\n", bytes)).substr(0, 32);
}

}  // namespace

absl::StatusOr<JobRuntime::EvaluationStep> JobRuntime::RecordEvaluation(const v1::Job& job,
                                                                       const v1::ReportMetricsRequest& request) {
  const int count = job.resolved_spec().benchmarks_size();
  if (request.results_size() != count) {
    return absl::InvalidArgumentError(absl::StrCat("results: ", request.results_size(), " benchmark results for ",
                                                   count, " benchmarks of ", job.name()));
  }
  ASSIGN_OR_RETURN(const std::string job_id, ParseJobName(job.name(), "job"));
  const v1::EvaluationRole role = job.evaluation_role();
  for (int i = 0; i < count; ++i) {
    RETURN_IF_ERROR(store_.PutEvalResult(job_id, ResultName(role, i), request.results(i)));
    const std::string key = BaseCacheKey(request.results(i).model_sha256(), job.resolved_spec().benchmarks(i),
                                         request.results(i).data_sha256());
    if (role == v1::EVALUATION_ROLE_BASE && !key.empty()) {
      RETURN_IF_ERROR(store_.PutEvalResult(kBaseCacheJob, key, request.results(i)));
    }
  }
  EvaluationStep step;
  if (job.has_evaluation() && !job.evaluation().has_baseline()) {
    step.done = true;  // A stand-alone evaluation without a baseline: its results are all there is.
    step.summary = absl::StrCat("scored ", count, " benchmark", count == 1 ? "" : "s", " on ",
                                DescribeTarget(job.evaluation().target()));
    return step;
  }
  std::vector<v1::BenchmarkResult> base(static_cast<size_t>(count)), tuned(static_cast<size_t>(count));
  if (role != v1::EVALUATION_ROLE_BASE) {
    // The base model's results, when every benchmark of this spec was scored on it before, are reused.
    ASSIGN_OR_RETURN(const std::vector<NamedEvalResult> cached, store_.ListEvalResults(kBaseCacheJob));
    for (int i = 0; i < count; ++i) {
      // The tuned rank hashed the base model (RunRank.baseline_target); the data are the ones it just scored.
      const std::string key = BaseCacheKey(request.baseline_model_sha256(), job.resolved_spec().benchmarks(i),
                                           request.results(i).data_sha256());
      const auto it = std::find_if(cached.begin(), cached.end(), [&](const NamedEvalResult& entry) {
        return !key.empty() && entry.name == key;
      });
      if (it == cached.end()) return step;  // Not cached: the base model is scored next.
      base[static_cast<size_t>(i)] = it->result;
      tuned[static_cast<size_t>(i)] = request.results(i);
    }
    for (int i = 0; i < count; ++i) {
      RETURN_IF_ERROR(store_.PutEvalResult(job_id, ResultName(v1::EVALUATION_ROLE_BASE, i),
                                           base[static_cast<size_t>(i)]));
    }
  } else {
    ASSIGN_OR_RETURN(const std::vector<NamedEvalResult> stored, store_.ListEvalResults(job_id));
    for (const NamedEvalResult& entry : stored) {
      for (int i = 0; i < count; ++i) {
        if (entry.name == ResultName(v1::EVALUATION_ROLE_TUNED, i)) tuned[static_cast<size_t>(i)] = entry.result;
      }
    }
    for (int i = 0; i < count; ++i) base[static_cast<size_t>(i)] = request.results(i);
  }
  ASSIGN_OR_RETURN(const v1::TransferReport report, BuildTransferReport(job, base, tuned, clock_()));
  RETURN_IF_ERROR(store_.PutTransferReport(job_id, report));
  if (options_.metrics != nullptr) options_.metrics->Transferred(job.name(), report);
  step.done = true;
  step.summary = absl::StrCat("transfer report: ", report.comparisons_size(), " comparisons, overall ",
                              v1::Verdict_Name(report.overall_verdict()));
  return step;
}

absl::Status JobRuntime::FailAttempt(absl::string_view job_id, int32_t attempt, v1::JobError error) {
  const absl::Time now = clock_();
  std::optional<v1::Job> before;
  absl::StatusOr<v1::Job> after = UpdateJobAndPublish(
      store_, events_, job_id, now, [&](v1::Job& job, std::vector<v1::JobEvent>& events) -> absl::Status {
        if (IsTerminal(job.state()) || job.restart_count() != attempt ||
            job.state() == v1::JOB_STATE_RESTARTING || job.state() == v1::JOB_STATE_QUEUED) {
          return absl::AbortedError("the attempt already ended");
        }
        before = job;
        FailureOutcome outcome = DecideFailure(job, error, options_.restart);
        if (job.state() == v1::JOB_STATE_EVALUATING) {
          // The model is trained and stored ("final"); a failed battery fails the job, naming the evaluation.
          outcome.next_state = v1::JOB_STATE_FAILED;
          outcome.error = error;
          outcome.error.set_retryable(false);
          outcome.error.set_message(absl::StrCat("evaluating the ",
                                                 job.evaluation_role() == v1::EVALUATION_ROLE_BASE ? "base" : "tuned",
                                                 " model: ", error.message()));
          outcome.event.set_reason("EvaluationFailed");
          outcome.event.set_message(outcome.error.message());
        }
        RETURN_IF_ERROR(CheckTransition(job.state(), outcome.next_state));
        *job.mutable_error() = outcome.error;
        RecordStateChange(job, events, outcome.next_state, outcome.event.reason(), outcome.event.message(), now);
        *events.back().mutable_state_change()->mutable_error() = outcome.error;
        if (outcome.next_state == v1::JOB_STATE_RESTARTING) {
          job.set_restart_count(job.restart_count() + 1);
          job.clear_placement();
          *job.mutable_next_attempt_time() = ToProtoTime(now + outcome.backoff);
        }
        return absl::OkStatus();
      });
  if (absl::IsAborted(after.status())) return absl::OkStatus();
  RETURN_IF_ERROR(after.status());
  FTD_LOG(INFO) << "job " << after->name() << " attempt " << attempt << " ended: " << error.message() << " -> "
                << v1::JobState_Name(after->state());
  if (options_.metrics != nullptr) {
    if (after->state() == v1::JOB_STATE_RESTARTING) options_.metrics->Restarted();
    if (IsTerminal(after->state())) options_.metrics->Finished(after->state());
  }
  AbortRanks(*before, absl::StrCat("attempt ", attempt, " ended: ", error.message()));
  if (options_.on_slots_changed) options_.on_slots_changed();
  if (absl::Status deleted = store_.RendezvousDeleteScope(absl::StrCat(after->name(), "/", attempt));
      !deleted.ok()) {
    FTD_LOG(WARNING) << "job " << after->name() << ": removing the rendezvous keys of attempt " << attempt << ": "
                     << deleted;
  }
  return absl::OkStatus();
}

void JobRuntime::AbortRanks(const v1::Job& job, absl::string_view reason) {
  for (const v1::RankPlacement& placement : job.placement()) {
    v1::WorkerCommand command;
    v1::AbortRank& abort = *command.mutable_abort_rank();
    abort.set_job(job.name());
    abort.set_attempt(job.restart_count());
    abort.set_rank(placement.rank());
    abort.set_reason(std::string(reason));
    workers_.QueueCommand(placement.worker(), std::move(command));
  }
}

void JobRuntime::AbortUnassigned(absl::string_view worker, const std::vector<v1::RankStatus>& ranks) {
  for (const v1::RankStatus& rank : ranks) {
    absl::StatusOr<std::string> job_id = ParseJobName(rank.job(), "job");
    if (!job_id.ok()) continue;
    absl::StatusOr<v1::Job> job = store_.GetJob(*job_id);
    if (!job.ok() && !absl::IsNotFound(job.status())) continue;  // Cannot tell now; the next heartbeat asks again.
    if (job.ok() && !IsTerminal(job->state()) && job->restart_count() == rank.attempt() &&
        HoldsRank(*job, rank.rank(), worker)) {
      continue;
    }
    v1::WorkerCommand command;
    v1::AbortRank& abort = *command.mutable_abort_rank();
    abort.set_job(rank.job());
    abort.set_attempt(rank.attempt());
    abort.set_rank(rank.rank());
    abort.set_reason(job.ok() ? std::string(NotCurrent(*job, rank.attempt(), rank.rank(), worker).message())
                              : "no such job");
    workers_.QueueCommand(worker, std::move(command));
  }
}

void JobRuntime::WorkersLost(const std::vector<std::string>& worker_ids) {
  if (worker_ids.empty()) return;
  std::set<std::string> lost;
  for (const std::string& id : worker_ids) lost.insert(absl::StrCat("workers/", id));
  absl::StatusOr<std::vector<v1::Job>> jobs = ListUnfinishedJobs(store_);
  if (!jobs.ok()) {
    FTD_LOG(ERROR) << "lost workers: cannot list the jobs: " << jobs.status();
    return;
  }
  for (const v1::Job& job : *jobs) {
    for (const v1::RankPlacement& placement : job.placement()) {
      if (!lost.contains(placement.worker())) continue;
      v1::JobError error;
      error.set_code(v1::ERROR_CODE_RANK_LOST);
      error.set_rank(placement.rank());
      error.set_step(job.progress().step());
      *error.mutable_time() = ToProtoTime(clock_());
      error.set_message(absl::StrCat("rank ", placement.rank(), " (", placement.worker(), " on ", placement.host(),
                                     ") lost: its worker's lease ran out"));
      absl::StatusOr<std::string> job_id = ParseJobName(job.name(), "job");
      if (!job_id.ok()) break;
      if (absl::Status failed = FailAttempt(*job_id, job.restart_count(), error); !failed.ok()) {
        FTD_LOG(ERROR) << "lost workers: " << job.name() << ": " << failed;
      }
      break;  // One failure ends the attempt.
    }
  }
}

absl::StatusOr<int> JobRuntime::ReleaseRestarts() {
  ASSIGN_OR_RETURN(const std::vector<v1::Job> jobs, ListUnfinishedJobs(store_));
  const absl::Time now = clock_();
  int released = 0;
  for (const v1::Job& job : jobs) {
    if (job.state() != v1::JOB_STATE_RESTARTING) continue;
    const absl::Time at = absl::FromUnixSeconds(job.next_attempt_time().seconds()) +
                          absl::Nanoseconds(job.next_attempt_time().nanos());
    if (at > now) continue;
    ASSIGN_OR_RETURN(const std::string job_id, ParseJobName(job.name(), "job"));
    absl::StatusOr<v1::Job> queued = UpdateJobAndPublish(
        store_, events_, job_id, now, [&](v1::Job& current, std::vector<v1::JobEvent>& events) -> absl::Status {
          if (current.state() != v1::JOB_STATE_RESTARTING) return absl::AbortedError("no longer restarting");
          RETURN_IF_ERROR(CheckTransition(current.state(), v1::JOB_STATE_QUEUED));
          current.clear_next_attempt_time();
          RecordStateChange(current, events, v1::JOB_STATE_QUEUED, "BackoffElapsed",
                            absl::StrCat("attempt ", current.restart_count(), " waits for workers"), now);
          return absl::OkStatus();
        });
    if (absl::IsAborted(queued.status())) continue;
    RETURN_IF_ERROR(queued.status());
    ++released;
  }
  if (released > 0 && options_.on_slots_changed) options_.on_slots_changed();
  return released;
}

absl::StatusOr<v1::Checkpoint> JobRuntime::PutCheckpoint(const v1::PutCheckpointHeader& header,
                                                         absl::FunctionRef<bool(v1::PutCheckpointRequest&)> next) {
  ASSIGN_OR_RETURN(const std::string job_id, ParseJobName(header.job(), "header.job"));
  if (header.rank() != 0) {
    return absl::InvalidArgumentError(absl::StrCat("header.rank: only rank 0 uploads, got ", header.rank()));
  }
  ASSIGN_OR_RETURN(const v1::Job job, store_.GetJob(job_id));
  if (IsTerminal(job.state()) || job.restart_count() != header.attempt()) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint of attempt ", header.attempt(), " of ", job.name(),
                                                      ": the attempt is no longer current"));
  }
  ASSIGN_OR_RETURN(const std::unique_ptr<CheckpointStore> checkpoints, store_.Checkpoints(job_id));
  const absl::Time now = clock_();
  const absl::Time started = absl::Now();
  ASSIGN_OR_RETURN(v1::Checkpoint stored, StoreUploadedCheckpoint(*checkpoints, job.name(), header, next, now));
  if (options_.metrics != nullptr) {
    options_.metrics->CheckpointStored(absl::ToDoubleSeconds(absl::Now() - started),
                                       static_cast<double>(stored.size_bytes()));
  }
  const bool is_best = header.best() && !header.final_result();
  std::string best = job.best_checkpoint();
  if (is_best) best = stored.name();
  ASSIGN_OR_RETURN(const std::vector<std::string> before_gc, checkpoints->ListCommitted());
  const std::string prefix = absl::StrCat(job.name(), "/checkpoints/");
  const int64_t keep = job.resolved_spec().has_save_total_limit() ? job.resolved_spec().save_total_limit() : 2;
  RETURN_IF_ERROR(CollectCheckpointGarbage(*checkpoints, keep, absl::StripPrefix(best, prefix)));
  ASSIGN_OR_RETURN(const std::vector<std::string> after_gc, checkpoints->ListCommitted());
  const std::set<std::string> kept(after_gc.begin(), after_gc.end());
  RETURN_IF_ERROR(UpdateJobAndPublish(store_, events_, job_id, now,
                                      [&](v1::Job& current, std::vector<v1::JobEvent>& events) -> absl::Status {
                                        if (is_best) current.set_best_checkpoint(stored.name());
                                        v1::CheckpointSaved& saved = *events.emplace_back().mutable_checkpoint_saved();
                                        *saved.mutable_checkpoint() = stored;
                                        for (const std::string& name : before_gc) {
                                          if (!kept.contains(name)) saved.add_deleted_checkpoints(prefix + name);
                                        }
                                        return absl::OkStatus();
                                      })
                      .status());
  return stored;
}

absl::Status JobRuntime::GetCheckpoint(const v1::GetCheckpointRequest& request,
                                       absl::FunctionRef<bool(const v1::GetCheckpointResponse&)> send) {
  const size_t split = request.name().find("/checkpoints/");
  if (split == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: want \"jobs/{job}/checkpoints/{checkpoint}\", got \"", request.name(), "\""));
  }
  const std::string job_name = request.name().substr(0, split);
  const std::string checkpoint = request.name().substr(split + std::string("/checkpoints/").size());
  ASSIGN_OR_RETURN(const std::string job_id, ParseJobName(job_name, "name"));
  RETURN_IF_ERROR(ValidateCheckpointName(checkpoint));
  ASSIGN_OR_RETURN(const std::unique_ptr<CheckpointStore> checkpoints, store_.Checkpoints(job_id));
  return SendStoredCheckpoint(*checkpoints, job_name, checkpoint, request.offset_bytes(),
                              options_.checkpoint_chunk_bytes, send);
}

}  // namespace ftd
