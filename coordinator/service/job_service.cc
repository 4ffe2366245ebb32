// CoordinatorJobService: construction, the gRPC handlers (convert only), and the writing RPCs and WatchJob. The
// paged reads (ListJobs, GetJobLogs, ListCheckpoints) are in job_service_reads.cc.
#include "coordinator/service/job_service.h"

#include "coordinator/service/job_metrics.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/job_spec_defaults.h"
#include "common/job_spec_validate.h"
#include "common/status_macros.h"
#include "coordinator/jobs/job_lifecycle.h"
#include "coordinator/service/evaluation_jobs.h"
#include "coordinator/service/job_updates.h"
#include "coordinator/service/placement_check.h"
#include "coordinator/service/resource_names.h"
#include "coordinator/service/to_grpc.h"
#include "google/protobuf/util/message_differencer.h"

namespace ftd {
namespace {

constexpr absl::string_view kJobIdPrefix = "ft-";
constexpr size_t kMaxRequestIdLength = 128;
constexpr int kStoreScanPage = 500;
constexpr int kWatchBatch = 256;
// CreateJob refuses a taken id; only this service creates jobs, so one retry is already a surprise.
constexpr int kMaxIdAttempts = 16;
// GetTransferReport's resource: a singleton under its job.
constexpr absl::string_view kTransferReportSuffix = "/transferReport";

// Copies a StatusOr's value into the gRPC response and converts its status: the shape of every unary handler.
template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (result.ok()) *response = *std::move(result);
  return ToGrpc(result.status());
}

// The number N of an id "ft-N" this service assigned; 0 for any other id.
int64_t JobNumberOf(absl::string_view job_id) {
  int64_t number = 0;
  if (!absl::ConsumePrefix(&job_id, kJobIdPrefix) || !absl::SimpleAtoi(job_id, &number) || number < 0) return 0;
  return number;
}

// The job "jobs/{job}" of a transfer report's name "jobs/{job}/transferReport" (or "evaluations/{job}/..." for a
// stand-alone evaluation's); INVALID_ARGUMENT naming the field otherwise (the job part itself is checked by
// ParseJobName).
absl::StatusOr<std::string> TransferReportJobName(absl::string_view name) {
  absl::string_view job_name = name;
  if (!absl::ConsumeSuffix(&job_name, kTransferReportSuffix)) {
    return absl::InvalidArgumentError(absl::StrCat("name: must be jobs/{job}", kTransferReportSuffix,
                                                   " or evaluations/{evaluation}", kTransferReportSuffix, ", got \"",
                                                   name, "\""));
  }
  if (absl::StartsWith(job_name, "evaluations/")) {
    ASSIGN_OR_RETURN(const std::string id, ParseEvaluationName(job_name, "name"));
    return JobName(id);
  }
  return std::string(job_name);
}

// The stored report of the job `job_name` names. NOT_FOUND for an unknown job ("job jobs/X not found") and, until
// the job's evaluation has stored one, "job jobs/X has no transfer report yet (state S)", so the caller can tell a
// job still evaluating from one that never will (FAILED, CANCELLED).
absl::StatusOr<v1::TransferReport> ReadTransferReport(CoordinatorStore& store, absl::string_view job_name) {
  ASSIGN_OR_RETURN(const std::string id, ParseJobName(job_name, "name"));
  absl::StatusOr<v1::Job> job = store.GetJob(id);
  if (!job.ok()) return JobNotFoundAs(job.status(), job_name);
  absl::StatusOr<v1::TransferReport> report = store.GetTransferReport(id);
  if (absl::IsNotFound(report.status())) {
    return absl::NotFoundError(absl::StrCat("job ", job_name, " has no transfer report yet (state ",
                                            absl::StripPrefix(v1::JobState_Name(job->state()), "JOB_STATE_"),
                                            ")"));
  }
  RETURN_IF_ERROR(report.status());
  if (report->name().empty()) report->set_name(absl::StrCat(job_name, kTransferReportSuffix));
  return report;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorJobService>> CoordinatorJobService::Create(
    CoordinatorStore& store, JobEvents& events, std::function<absl::Time()> clock, JobServiceOptions options) {
  std::unique_ptr<CoordinatorJobService> service(
      new CoordinatorJobService(store, events, std::move(clock), options));
  absl::MutexLock lock(&service->submit_mu_);
  JobQuery query;
  query.page_size = kStoreScanPage;
  while (true) {
    ASSIGN_OR_RETURN(JobPage page, store.ListJobs(query));
    for (const v1::Job& job : page.jobs) {
      const absl::string_view id = absl::StripPrefix(job.name(), "jobs/");
      service->next_job_number_ = std::max(service->next_job_number_, JobNumberOf(id) + 1);
      if (!job.request_id().empty()) service->request_ids_[job.request_id()] = std::string(id);
    }
    if (page.next_page_token.empty()) break;
    query.page_token = std::move(page.next_page_token);
  }
  return service;
}

// --- gRPC handlers: convert only ---

grpc::Status CoordinatorJobService::SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                                              v1::Job* response) {
  absl::StatusOr<CallerIdentity> caller = Caller(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  return Reply(Submit(*request, caller->user), response);
}

grpc::Status CoordinatorJobService::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                                           v1::Job* response) {
  if (absl::Status visible = Authorize(*context, request->name()); !visible.ok()) return ToGrpc(visible);
  return Reply(Get(*request), response);
}

grpc::Status CoordinatorJobService::ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                                             v1::ListJobsResponse* response) {
  absl::StatusOr<CallerIdentity> caller = Caller(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  return Reply(List(*request, caller->admin ? "" : caller->user), response);
}

grpc::Status CoordinatorJobService::CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                                              v1::Job* response) {
  if (absl::Status visible = Authorize(*context, request->name()); !visible.ok()) return ToGrpc(visible);
  return Reply(Cancel(*request), response);
}

grpc::Status CoordinatorJobService::WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                                             grpc::ServerWriter<v1::JobEvent>* writer) {
  if (absl::Status visible = Authorize(*context, request->name()); !visible.ok()) return ToGrpc(visible);
  return ToGrpc(Watch(*context, *request, *writer));
}

grpc::Status CoordinatorJobService::GetJobLogs(grpc::ServerContext* context, const v1::GetJobLogsRequest* request,
                                               v1::GetJobLogsResponse* response) {
  if (absl::Status visible = Authorize(*context, request->name()); !visible.ok()) return ToGrpc(visible);
  return Reply(Logs(*request), response);
}

grpc::Status CoordinatorJobService::ListCheckpoints(grpc::ServerContext* context,
                                                    const v1::ListCheckpointsRequest* request,
                                                    v1::ListCheckpointsResponse* response) {
  if (absl::Status visible = Authorize(*context, request->parent()); !visible.ok()) return ToGrpc(visible);
  return Reply(Checkpoints(*request), response);
}

grpc::Status CoordinatorJobService::GetTransferReport(grpc::ServerContext* context,
                                                      const v1::GetTransferReportRequest* request,
                                                      v1::TransferReport* response) {
  absl::StatusOr<CallerIdentity> caller = Caller(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  absl::StatusOr<std::string> job_name = TransferReportJobName(request->name());
  if (!job_name.ok()) return ToGrpc(job_name.status());
  if (absl::Status visible = CheckOwner(*caller, *job_name); !visible.ok()) return ToGrpc(visible);
  return Reply(ReadTransferReport(store_, *job_name), response);
}

grpc::Status CoordinatorJobService::RunEvaluation(grpc::ServerContext* context,
                                                  const v1::RunEvaluationRequest* request,
                                                  v1::Evaluation* response) {
  absl::StatusOr<CallerIdentity> caller = Caller(*context);
  if (!caller.ok()) return ToGrpc(caller.status());
  // A checkpoint target is another job's result: the caller must be allowed to see that job.
  for (const std::string& job_id : TargetJobs(*request)) {
    if (absl::Status visible = CheckOwner(*caller, JobName(job_id)); !visible.ok()) return ToGrpc(visible);
  }
  return Reply(Evaluate(*request, caller->user), response);
}

grpc::Status CoordinatorJobService::GetEvaluation(grpc::ServerContext* context,
                                                  const v1::GetEvaluationRequest* request,
                                                  v1::Evaluation* response) {
  absl::StatusOr<std::string> id = ParseEvaluationName(request->name(), "name");
  if (!id.ok()) return ToGrpc(id.status());
  if (absl::Status visible = Authorize(*context, JobName(*id)); !visible.ok()) return ToGrpc(visible);
  return Reply(GetEvaluationView(*id, request->name()), response);
}

// --- Writes ---

absl::StatusOr<CallerIdentity> CoordinatorJobService::Caller(const grpc::ServerContext& context) const {
  return IdentityOf(context, options_.tokens.get());
}

absl::Status CoordinatorJobService::Authorize(const grpc::ServerContext& context, absl::string_view name) {
  ASSIGN_OR_RETURN(const CallerIdentity caller, Caller(context));
  return CheckOwner(caller, name);
}

absl::Status CoordinatorJobService::CheckOwner(const CallerIdentity& caller, absl::string_view name) {
  if (caller.admin) return absl::OkStatus();
  absl::StatusOr<std::string> id = ParseJobName(name, "name");
  if (!id.ok()) return absl::OkStatus();  // The logic names the malformed field.
  absl::StatusOr<v1::Job> job = store_.GetJob(*id);
  if (!job.ok() || job->user() == caller.user) return absl::OkStatus();
  return JobNotFoundAs(absl::NotFoundError("another user's job"), name);
}

absl::StatusOr<v1::Job> CoordinatorJobService::Submit(const v1::SubmitJobRequest& request, const std::string& user) {
  // The same defaults and validation as ftctl's YAML loader.
  if (!request.has_spec()) return absl::InvalidArgumentError("spec: required");
  v1::JobSpec resolved = request.spec();
  ApplyJobSpecDefaults(&resolved);
  if (absl::Status valid = ValidateJobSpec(resolved); !valid.ok()) {
    // The validator names fields from the spec's root; on the wire they sit under the request's `spec`.
    return absl::Status(valid.code(), absl::StrCat("spec.", valid.message()));
  }
  // Before anything reads the spec's files (the placement check opens base_model's config.json).
  RETURN_IF_ERROR(CheckJobSpecPaths(options_.path_roots, resolved));
  if (request.request_id().size() > kMaxRequestIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("request_id: at most ", kMaxRequestIdLength, " characters"));
  }

  absl::MutexLock lock(&submit_mu_);
  // A retry gets its job back even if the workers changed since, so this comes before the placement check.
  if (!request.validate_only()) {
    ASSIGN_OR_RETURN(std::optional<v1::Job> existing, FindRetry(request));
    if (existing.has_value()) return *std::move(existing);
  }
  ASSIGN_OR_RETURN(const std::vector<StoredWorker> workers, store_.ListWorkers());
  ASSIGN_OR_RETURN(const SubmitPlacement placement, CheckSubmitPlacement(resolved, workers));

  const absl::Time now = clock_();
  v1::Job job;
  *job.mutable_spec() = request.spec();
  *job.mutable_resolved_spec() = std::move(resolved);
  *job.mutable_create_time() = ToProtoTime(now);
  *job.mutable_update_time() = job.create_time();
  job.set_request_id(request.request_id());
  job.set_user(user);
  std::vector<v1::JobEvent> events;
  RecordStateChange(job, events, v1::JOB_STATE_QUEUED, "Submitted", placement.summary, now);
  *events.back().mutable_time() = job.create_time();
  if (request.validate_only()) return job;

  return CreateJob(std::move(job), std::move(events));
}

absl::StatusOr<v1::Job> CoordinatorJobService::CreateJob(v1::Job job, std::vector<v1::JobEvent> events) {
  for (int attempt = 0; attempt < kMaxIdAttempts; ++attempt) {
    const std::string id = absl::StrFormat("%s%06d", kJobIdPrefix, next_job_number_++);
    job.set_name(JobName(id));
    absl::StatusOr<v1::Job> created = store_.CreateJob(job, events);
    if (created.status().code() == absl::StatusCode::kAlreadyExists) continue;
    if (!created.ok()) return created.status();
    if (!job.request_id().empty()) request_ids_[job.request_id()] = id;
    events_.Publish(id, created->last_event_sequence());
    if (options_.metrics != nullptr) options_.metrics->Submitted();
    if (options_.on_submitted) options_.on_submitted();
    return created;
  }
  return absl::InternalError(absl::StrCat("no free job id after ", kMaxIdAttempts, " attempts"));
}

absl::StatusOr<v1::Evaluation> CoordinatorJobService::Evaluate(const v1::RunEvaluationRequest& request,
                                                               const std::string& user) {
  ASSIGN_OR_RETURN(EvaluationPlan plan, PlanEvaluation(request, options_.path_roots, store_));
  absl::MutexLock lock(&submit_mu_);
  if (!request.request_id().empty()) {
    if (auto it = request_ids_.find(request.request_id()); it != request_ids_.end()) {
      ASSIGN_OR_RETURN(const v1::Job existing, store_.GetJob(it->second));
      if (existing.has_evaluation() &&
          google::protobuf::util::MessageDifferencer::Equals(existing.evaluation(), plan.request)) {
        return EvaluationView(existing, {}, std::nullopt);
      }
      return absl::AlreadyExistsError(absl::StrCat("request_id \"", request.request_id(), "\" was already used for ",
                                                   existing.name(), " with a different request"));
    }
  }
  ASSIGN_OR_RETURN(const std::vector<StoredWorker> workers, store_.ListWorkers());
  ASSIGN_OR_RETURN(const SubmitPlacement placement, CheckSubmitPlacement(plan.spec, workers));

  const absl::Time now = clock_();
  v1::Job job;
  *job.mutable_spec() = plan.spec;
  *job.mutable_resolved_spec() = plan.spec;
  *job.mutable_evaluation() = plan.request;
  job.set_evaluation_role(v1::EVALUATION_ROLE_TUNED);
  *job.mutable_create_time() = ToProtoTime(now);
  *job.mutable_update_time() = job.create_time();
  job.set_request_id(request.request_id());
  job.set_user(user);
  std::vector<v1::JobEvent> events;
  RecordStateChange(job, events, v1::JOB_STATE_QUEUED, "EvaluationSubmitted",
                    absl::StrCat("stand-alone evaluation of ", DescribeTarget(plan.request.target()), "; ",
                                 placement.summary),
                    now);
  *events.back().mutable_time() = job.create_time();
  ASSIGN_OR_RETURN(const v1::Job created, CreateJob(std::move(job), std::move(events)));
  return EvaluationView(created, {}, std::nullopt);
}

absl::StatusOr<v1::Evaluation> CoordinatorJobService::GetEvaluationView(const std::string& id,
                                                                        absl::string_view name) {
  absl::StatusOr<v1::Job> job = store_.GetJob(id);
  if (absl::IsNotFound(job.status())) return absl::NotFoundError(absl::StrCat("evaluation ", name, " not found"));
  RETURN_IF_ERROR(job.status());
  if (!job->has_evaluation()) {
    return absl::NotFoundError(
        absl::StrCat("evaluation ", name, " not found: ", job->name(), " is a training job (GetTransferReport has its "
                                                                       "battery's results)"));
  }
  // The target's results, "tuned/NNN" in benchmark order (names sort so).
  ASSIGN_OR_RETURN(const std::vector<NamedEvalResult> stored, store_.ListEvalResults(id));
  std::vector<v1::BenchmarkResult> results;
  for (const NamedEvalResult& entry : stored) {
    if (absl::StartsWith(entry.name, "tuned/")) results.push_back(entry.result);
  }
  std::optional<v1::TransferReport> report;
  absl::StatusOr<v1::TransferReport> stored_report = store_.GetTransferReport(id);
  if (stored_report.ok()) {
    report = *std::move(stored_report);
  } else if (!absl::IsNotFound(stored_report.status())) {
    return stored_report.status();
  }
  // The rank's latest progress, from the newest events (reports come every few seconds; a page is plenty).
  std::optional<v1::EvaluationProgress> progress;
  if (!IsTerminal(job->state())) {
    constexpr int64_t kRecentEvents = 64;
    ASSIGN_OR_RETURN(const std::vector<v1::JobEvent> recent,
                     store_.ListEvents(id, std::max<int64_t>(0, job->last_event_sequence() - kRecentEvents),
                                       static_cast<int>(kRecentEvents)));
    for (const v1::JobEvent& event : recent) {
      if (event.has_evaluation_progress() && event.evaluation_progress().role() == job->evaluation_role()) {
        progress = event.evaluation_progress();
      }
    }
  }
  return EvaluationView(*job, std::move(results), std::move(report), std::move(progress));
}

absl::StatusOr<std::optional<v1::Job>> CoordinatorJobService::FindRetry(const v1::SubmitJobRequest& request) {
  if (request.request_id().empty()) return std::nullopt;
  auto it = request_ids_.find(request.request_id());
  if (it == request_ids_.end()) return std::nullopt;
  ASSIGN_OR_RETURN(v1::Job existing, store_.GetJob(it->second));
  if (google::protobuf::util::MessageDifferencer::Equals(existing.spec(), request.spec())) return existing;
  return absl::AlreadyExistsError(absl::StrCat("request_id \"", request.request_id(), "\" was already used for ",
                                               existing.name(), " with a different spec"));
}

absl::StatusOr<v1::Job> CoordinatorJobService::Get(const v1::GetJobRequest& request) {
  ASSIGN_OR_RETURN(const std::string id, ParseJobName(request.name(), "name"));
  absl::StatusOr<v1::Job> job = store_.GetJob(id);
  if (!job.ok()) return JobNotFoundAs(job.status(), request.name());
  return job;
}

absl::StatusOr<v1::Job> CoordinatorJobService::Cancel(const v1::CancelJobRequest& request) {
  ASSIGN_OR_RETURN(const std::string id, ParseJobName(request.name(), "name"));
  const absl::Time now = clock_();
  // The state and its event are written here; the daemon's on_cancelled aborts the ranks of the placement the job
  // had (and a worker still running one is told again by the heartbeat check).
  v1::Job before;
  absl::StatusOr<v1::Job> cancelled =
      UpdateJobAndPublish(store_, events_, id, now, [&](v1::Job& job, std::vector<v1::JobEvent>& events) {
        if (absl::Status legal = CheckTransition(job.state(), v1::JOB_STATE_CANCELLED); !legal.ok()) {
          return absl::FailedPreconditionError(absl::StrCat(job.name(), " is ", v1::JobState_Name(job.state()),
                                                            ", so it cannot be cancelled: ", legal.message()));
        }
        before = job;
        RecordStateChange(job, events, v1::JOB_STATE_CANCELLED, "CancelledByUser", request.reason(), now);
        return absl::OkStatus();
      });
  if (!cancelled.ok()) return JobNotFoundAs(cancelled.status(), request.name());
  if (options_.on_cancelled) options_.on_cancelled(before);
  if (options_.metrics != nullptr) options_.metrics->Finished(v1::JOB_STATE_CANCELLED);
  return cancelled;
}

// --- WatchJob ---

absl::Status CoordinatorJobService::Watch(grpc::ServerContext& context, const v1::WatchJobRequest& request,
                                          grpc::ServerWriter<v1::JobEvent>& writer) {
  ASSIGN_OR_RETURN(const std::string id, ParseJobName(request.name(), "name"));
  if (request.after_sequence() < 0) return absl::InvalidArgumentError("after_sequence: must be >= 0");
  // Subscribed before the first read, so nothing written after a read goes unnoticed (job_events.h).
  const std::unique_ptr<JobEvents::Subscription> subscription = events_.Subscribe(id);
  int64_t sent = request.after_sequence();  // Highest sequence the client has.
  while (true) {
    if (events_.is_shut_down()) return absl::UnavailableError("the coordinator is shutting down; watch again");
    if (context.IsCancelled()) return absl::CancelledError("the client cancelled the watch");
    absl::StatusOr<std::vector<v1::JobEvent>> batch = store_.ListEvents(id, sent, kWatchBatch);
    if (!batch.ok()) return JobNotFoundAs(batch.status(), request.name());
    for (const v1::JobEvent& event : *batch) {
      if (!writer.Write(event)) return absl::CancelledError("the client went away");
      sent = event.sequence();
      // The stream ends with the event that moved the job into a terminal state.
      if (event.has_state_change() && IsTerminal(event.state_change().to_state())) return absl::OkStatus();
    }
    if (static_cast<int>(batch->size()) == kWatchBatch) continue;  // More stored events: no need to wait.

    // Caught up. A job that ended at or before after_sequence has nothing more to send.
    absl::StatusOr<v1::Job> job = store_.GetJob(id);
    if (!job.ok()) return JobNotFoundAs(job.status(), request.name());
    if (IsTerminal(job->state()) && job->state_sequence() <= sent) return absl::OkStatus();
    if (subscription->Wait(sent, options_.watch_cancel_check_interval) == JobEvents::WaitResult::kShutDown) {
      return absl::UnavailableError("the coordinator is shutting down; watch again");
    }
  }
}

}  // namespace ftd
