// InMemoryJobService: the test JobService. Each RPC is a StatusOr-returning method; the gRPC overrides only
// convert, through ToGrpc, so the status codes chosen here are the ones clients see.
#include "tests/proto/in_memory_job_service.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/job_spec_defaults.h"
#include "common/job_spec_validate.h"
#include "common/status_macros.h"
#include "coordinator/service/job_list_query.h"
#include "coordinator/jobs/job_lifecycle.h"
#include "coordinator/service/to_grpc.h"
#include "google/protobuf/util/message_differencer.h"

namespace ftd {
namespace {

constexpr absl::string_view kJobPrefix = "jobs/";
constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;
constexpr size_t kMaxRequestIdLength = 128;

google::protobuf::Timestamp ToProtoTime(absl::Time time) {
  google::protobuf::Timestamp proto;
  const int64_t seconds = absl::ToUnixSeconds(time);  // Rounds towards the past, so nanos stay >= 0.
  proto.set_seconds(seconds);
  proto.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  return proto;
}

// Copies a StatusOr's value into the gRPC response and converts its status: the shape of every handler.
template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (result.ok()) *response = *std::move(result);
  return ToGrpc(result.status());
}

}  // namespace

InMemoryJobService::InMemoryJobService(InMemoryJobServiceOptions options) : options_(std::move(options)) {}

// --- gRPC handlers: convert only ---

grpc::Status InMemoryJobService::SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest* request,
                                           v1::Job* response) {
  return Reply(Submit(*request), response);
}

grpc::Status InMemoryJobService::GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                                        v1::Job* response) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<JobRecord*> record = FindLocked(request->name());
  if (record.ok()) *response = (*record)->job;
  return ToGrpc(record.status());
}

grpc::Status InMemoryJobService::ListJobs(grpc::ServerContext*, const v1::ListJobsRequest* request,
                                          v1::ListJobsResponse* response) {
  return Reply(List(*request), response);
}

grpc::Status InMemoryJobService::CancelJob(grpc::ServerContext*, const v1::CancelJobRequest* request,
                                           v1::Job* response) {
  return Reply(Cancel(*request), response);
}

grpc::Status InMemoryJobService::WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                                          grpc::ServerWriter<v1::JobEvent>* writer) {
  return ToGrpc(Watch(*context, *request, *writer));
}

// --- RPC logic ---

absl::StatusOr<v1::Job> InMemoryJobService::Submit(const v1::SubmitJobRequest& request) {
  // The same defaults and validation the coordinator applies to a spec from any client.
  if (!request.has_spec()) return absl::InvalidArgumentError("spec: required");
  v1::JobSpec resolved = request.spec();
  ApplyJobSpecDefaults(&resolved);
  if (absl::Status valid = ValidateJobSpec(resolved); !valid.ok()) {
    // The validator names fields from the spec's root; on the wire they sit under the request's `spec`.
    return absl::Status(valid.code(), absl::StrCat("spec.", valid.message()));
  }
  if (request.request_id().size() > kMaxRequestIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("request_id: at most ", kMaxRequestIdLength, " characters"));
  }
  if (request.validate_only()) {
    v1::Job would_be;
    *would_be.mutable_spec() = request.spec();
    *would_be.mutable_resolved_spec() = resolved;
    would_be.set_state(v1::JOB_STATE_QUEUED);
    return would_be;
  }

  absl::MutexLock lock(&mu_);
  if (!request.request_id().empty()) {
    auto it = request_ids_.find(request.request_id());
    if (it != request_ids_.end()) {
      const v1::Job& existing = jobs_.at(it->second).job;
      if (google::protobuf::util::MessageDifferencer::Equals(existing.spec(), request.spec())) return existing;
      return absl::AlreadyExistsError(absl::StrCat("request_id \"", request.request_id(), "\" was already used for ",
                                                   existing.name(), " with a different spec"));
    }
  }
  const int64_t number = next_job_number_++;
  const std::string name = absl::StrFormat("%sft-%06d", kJobPrefix, number);
  JobRecord& record = jobs_[name];
  record.job.set_name(name);
  *record.job.mutable_spec() = request.spec();
  *record.job.mutable_resolved_spec() = std::move(resolved);
  *record.job.mutable_create_time() = ToProtoTime(options_.clock());
  record.job.set_request_id(request.request_id());
  RETURN_IF_ERROR(TransitionLocked(record, v1::JOB_STATE_QUEUED, "Submitted", ""));
  creation_order_[number] = name;
  if (!request.request_id().empty()) request_ids_[request.request_id()] = name;
  return record.job;
}

absl::StatusOr<v1::ListJobsResponse> InMemoryJobService::List(const v1::ListJobsRequest& request) {
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size: must be >= 0");
  const int page_size = request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  ASSIGN_OR_RETURN(const JobFilter filter, ParseJobFilter(request.filter()));
  ASSIGN_OR_RETURN(const JobOrder order, ParseJobOrder(request.order_by()));
  std::optional<int64_t> after;  // Creation number of the last job of the previous page.
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(const std::string cursor,
                     DecodePageToken(request.page_token(), request.filter(), request.order_by()));
    int64_t number = 0;
    if (!absl::SimpleAtoi(cursor, &number) || number <= 0) {
      return absl::InvalidArgumentError("page_token is malformed");
    }
    after = number;
  }

  absl::MutexLock lock(&mu_);
  std::vector<std::pair<int64_t, const std::string*>> ordered;
  for (const auto& [number, name] : creation_order_) ordered.emplace_back(number, &name);
  if (order == JobOrder::kNewestFirst) std::reverse(ordered.begin(), ordered.end());

  v1::ListJobsResponse response;
  int64_t last_listed = 0;
  for (const auto& [number, name] : ordered) {
    if (after.has_value() && (order == JobOrder::kNewestFirst ? number >= *after : number <= *after)) continue;
    const v1::Job& job = jobs_.at(*name).job;
    if (!filter.Matches(job)) continue;
    if (response.jobs_size() == page_size) {
      // Another match exists past this page: hand out a token, so the last page never comes back empty.
      response.set_next_page_token(
          EncodePageToken(absl::StrCat(last_listed), request.filter(), request.order_by()));
      break;
    }
    *response.add_jobs() = job;
    last_listed = number;
  }
  return response;
}

absl::StatusOr<v1::Job> InMemoryJobService::Cancel(const v1::CancelJobRequest& request) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(JobRecord* record, FindLocked(request.name()));
  RETURN_IF_ERROR(TransitionLocked(*record, v1::JOB_STATE_CANCELLED, "CancelledByUser", request.reason()));
  return record->job;
}

absl::Status InMemoryJobService::Watch(grpc::ServerContext& context, const v1::WatchJobRequest& request,
                                       grpc::ServerWriter<v1::JobEvent>& writer) {
  if (request.after_sequence() < 0) return absl::InvalidArgumentError("after_sequence: must be >= 0");
  int64_t sent = request.after_sequence();  // Highest sequence the client has.
  while (true) {
    std::vector<v1::JobEvent> batch;
    bool finished = false;
    {
      absl::MutexLock lock(&mu_);
      ASSIGN_OR_RETURN(JobRecord* record, FindLocked(request.name()));
      auto event_count = [record] { return static_cast<int64_t>(record->events.size()); };
      while (!shutting_down_ && !context.IsCancelled() && event_count() <= sent &&
             !IsTerminal(record->job.state())) {
        changed_.WaitWithTimeout(&mu_, options_.watch_cancel_check_interval);
      }
      if (shutting_down_) return absl::UnavailableError("server is shutting down; watch again after restart");
      if (context.IsCancelled()) return absl::CancelledError("the client cancelled the watch");
      for (int64_t i = sent; i < event_count(); ++i) batch.push_back(record->events[i]);
      sent = std::max(sent, event_count());
      // Nothing follows a terminal state's event, so everything is sent once the batch is written.
      finished = IsTerminal(record->job.state());
    }
    // Written without the lock: a slow client must not stall the service.
    for (const v1::JobEvent& event : batch) {
      if (!writer.Write(event)) return absl::CancelledError("the client went away");
    }
    if (finished) return absl::OkStatus();
  }
}

// --- Test hooks ---

absl::Status InMemoryJobService::SetState(absl::string_view name, v1::JobState state, absl::string_view reason) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(JobRecord* record, FindLocked(name));
  return TransitionLocked(*record, state, reason, "");
}

absl::StatusOr<int64_t> InMemoryJobService::AppendEvent(absl::string_view name, v1::JobEvent event) {
  if (event.has_state_change()) return absl::InvalidArgumentError("state changes go through SetState");
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(JobRecord* record, FindLocked(name));
  if (IsTerminal(record->job.state())) {
    return absl::FailedPreconditionError(absl::StrCat(name, " is ", v1::JobState_Name(record->job.state()),
                                                      "; a terminal job takes no more events"));
  }
  return AppendLocked(*record, std::move(event));
}

void InMemoryJobService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  changed_.SignalAll();
}

// --- Internals ---

absl::StatusOr<InMemoryJobService::JobRecord*> InMemoryJobService::FindLocked(absl::string_view name) {
  const absl::string_view id = absl::StripPrefix(name, kJobPrefix);
  if (id.size() == name.size() || id.empty() || absl::StrContains(id, '/')) {
    return absl::InvalidArgumentError(absl::StrCat("name: \"", name, "\" is not a job name like jobs/{job}"));
  }
  auto it = jobs_.find(std::string(name));
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job ", name, " not found"));
  return &it->second;
}

int64_t InMemoryJobService::AppendLocked(JobRecord& record, v1::JobEvent event) {
  const int64_t sequence = static_cast<int64_t>(record.events.size()) + 1;
  event.set_job(record.job.name());
  event.set_sequence(sequence);
  *event.mutable_time() = ToProtoTime(options_.clock());
  *record.job.mutable_update_time() = event.time();
  record.job.set_last_event_sequence(sequence);
  record.events.push_back(std::move(event));
  changed_.SignalAll();
  return sequence;
}

absl::Status InMemoryJobService::TransitionLocked(JobRecord& record, v1::JobState to, absl::string_view reason,
                                                  absl::string_view message) {
  const v1::JobState from = record.job.state();
  if (IsTerminal(from)) {
    return absl::FailedPreconditionError(
        absl::StrCat(record.job.name(), " is already ", v1::JobState_Name(from), " (a terminal state)"));
  }
  if (to == v1::JOB_STATE_UNSPECIFIED) return absl::InvalidArgumentError("state: UNSPECIFIED is not a state");
  v1::JobEvent event;
  v1::StateChange& change = *event.mutable_state_change();
  change.set_from_state(from);
  change.set_to_state(to);
  change.set_reason(std::string(reason));
  change.set_message(std::string(message));
  // Set the state before appending, so a watcher woken by the event already sees it.
  record.job.set_state(to);
  const int64_t sequence = AppendLocked(record, std::move(event));
  const google::protobuf::Timestamp now = record.job.update_time();
  record.job.set_state_sequence(sequence);
  if (to == v1::JOB_STATE_RUNNING && !record.job.has_start_time()) *record.job.mutable_start_time() = now;
  if (IsTerminal(to)) {
    *record.job.mutable_end_time() = now;
    record.job.clear_placement();
  }
  return absl::OkStatus();
}

}  // namespace ftd
