// CoordinatorWorkerService: registration, leases, the assignments stream and the rendezvous KV (see
// worker_service.h).
#include "coordinator/service/worker_service.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/jobs/job_lifecycle.h"
#include "coordinator/service/evaluation_jobs.h"
#include "coordinator/service/job_runtime.h"
#include "coordinator/service/resource_names.h"
#include "coordinator/service/to_grpc.h"

namespace ftd {
namespace {

constexpr absl::string_view kWorkerPrefix = "workers/";
constexpr absl::string_view kWorkerIdPrefix = "w-";
constexpr size_t kMaxKeyBytes = 512;
constexpr size_t kMaxValueBytes = size_t{1} << 20;
constexpr absl::Duration kDefaultWaitTimeout = absl::Minutes(5);

// The leading number of "MAJOR.MINOR.PATCH..."; nullopt when there is none.
std::optional<int64_t> MajorVersion(absl::string_view version) {
  const absl::string_view major = version.substr(0, version.find('.'));
  int64_t value = 0;
  if (major.empty() || !absl::SimpleAtoi(major, &value) || value < 0) return std::nullopt;
  return value;
}

// N of a stored id "w-N"; 0 for ids the service did not make.
int64_t WorkerNumber(absl::string_view id) {
  int64_t number = 0;
  if (!absl::ConsumePrefix(&id, kWorkerIdPrefix) || !absl::SimpleAtoi(id, &number)) return 0;
  return std::max<int64_t>(number, 0);
}

// The host of gRPC's peer string ("ipv4:10.0.0.3:51234", "ipv6:[::1]:51234"); empty when it has none.
std::string PeerHost(absl::string_view peer) {
  const size_t scheme = peer.find(':');
  if (scheme == absl::string_view::npos) return "";
  absl::string_view address = peer.substr(scheme + 1);
  const size_t port = address.rfind(':');
  if (port == absl::string_view::npos) return "";
  address = address.substr(0, port);
  absl::ConsumePrefix(&address, "[");
  absl::ConsumeSuffix(&address, "]");
  return std::string(address);
}

void SetDuration(absl::Duration d, google::protobuf::Duration& out) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp& out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  int64_t seconds = nanos / 1000000000;
  int64_t rest = nanos % 1000000000;
  if (rest < 0) {
    rest += 1000000000;
    --seconds;
  }
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(rest));
}

// The worker id of "workers/{worker}". INVALID_ARGUMENT naming `field` otherwise.
absl::StatusOr<std::string> ParseWorkerName(absl::string_view name, absl::string_view field) {
  absl::string_view id = name;
  if (!absl::ConsumePrefix(&id, kWorkerPrefix) || id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": want \"workers/{worker}\", got \"", name, "\""));
  }
  return std::string(id);
}

// The rendezvous scope "<job>/<attempt>" of a request: job is "jobs/{job}" or "evaluations/{evaluation}".
absl::StatusOr<std::string> Scope(absl::string_view job, int32_t attempt) {
  absl::string_view evaluation = job;
  if (absl::ConsumePrefix(&evaluation, "evaluations/")) {
    if (evaluation.empty() || evaluation.find('/') != absl::string_view::npos ||
        evaluation.find('\0') != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("job: bad evaluation name \"", job, "\""));
    }
  } else {
    RETURN_IF_ERROR(ParseJobName(job, "job").status());
  }
  if (attempt < 0) return absl::InvalidArgumentError(absl::StrCat("attempt: must be >= 0, got ", attempt));
  return absl::StrCat(job, "/", attempt);
}

absl::Status CheckKey(absl::string_view key, absl::string_view field) {
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  if (key.size() > kMaxKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", key.size(), " bytes, at most ", kMaxKeyBytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<v1::Job>> ListUnfinishedJobs(CoordinatorStore& store) {
  std::vector<v1::Job> jobs;
  JobQuery query;
  query.filter = [](const v1::Job& job) { return !IsTerminal(job.state()); };
  while (true) {
    ASSIGN_OR_RETURN(JobPage page, store.ListJobs(query));
    for (v1::Job& job : page.jobs) jobs.push_back(std::move(job));
    if (page.next_page_token.empty()) return jobs;
    query.page_token = std::move(page.next_page_token);
  }
}

v1::RunRank RunRankFor(const v1::Job& job, const v1::RankPlacement& placement) {
  v1::RunRank run;
  run.set_job(job.name());
  run.set_attempt(job.restart_count());
  run.set_rank(placement.rank());
  run.set_world_size(job.placement_size());
  if (job.state() == v1::JOB_STATE_EVALUATING || job.has_evaluation()) {
    // The benchmark battery on one worker: the tuned model (a training job's final result, or a stand-alone
    // evaluation's target), then the base model (or the evaluation's baseline).
    run.set_world_size(1);
    run.set_task(v1::RANK_TASK_EVALUATE);
    run.set_eval_role(job.evaluation_role());
    *run.mutable_resolved_spec() = job.resolved_spec();
    *run.mutable_benchmarks() = job.resolved_spec().benchmarks();
    *run.mutable_eval_target() = EvaluationTargetFor(job, job.evaluation_role());
    if (job.evaluation_role() != v1::EVALUATION_ROLE_BASE &&
        (!job.has_evaluation() || job.evaluation().has_baseline())) {
      // The rank hashes the model scored next, so the runtime can find its results in the cache first.
      const v1::EvaluationTarget base = EvaluationTargetFor(job, v1::EVALUATION_ROLE_BASE);
      if (base.target_case() != v1::EvaluationTarget::kCheckpoint) *run.mutable_baseline_target() = base;
    }
    return run;
  }
  absl::string_view device = placement.device();
  int32_t index = 0;
  if (absl::ConsumePrefix(&device, "cuda:") && absl::SimpleAtoi(device, &index)) run.set_device_index(index);
  run.set_task(v1::RANK_TASK_TRAIN);
  run.set_resume_checkpoint(job.resume_checkpoint());
  *run.mutable_resolved_spec() = job.resolved_spec();
  run.mutable_rendezvous()->set_backend(job.resolved_spec().device() == v1::DEVICE_CPU ? v1::COLLECTIVE_BACKEND_GLOO
                                                                                      : v1::COLLECTIVE_BACKEND_NCCL);
  return run;
}

CoordinatorWorkerService::CoordinatorWorkerService(CoordinatorStore& store, std::function<absl::Time()> clock,
                                                   WorkerServiceOptions options)
    : store_(store), clock_(std::move(clock)), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<CoordinatorWorkerService>> CoordinatorWorkerService::Create(
    CoordinatorStore& store, std::function<absl::Time()> clock, WorkerServiceOptions options) {
  if (options.lease_duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("lease_duration must be positive");
  }
  if (options.coordinator_version.empty()) options.coordinator_version = FTD_VERSION;
  if (!MajorVersion(options.coordinator_version).has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("coordinator_version: no major version in \"", options.coordinator_version, "\""));
  }
  ASSIGN_OR_RETURN(std::vector<StoredWorker> workers, store.ListWorkers());
  std::unique_ptr<CoordinatorWorkerService> service(
      new CoordinatorWorkerService(store, std::move(clock), std::move(options)));
  const absl::Time lease_end = service->clock_() + service->options_.lease_duration;
  absl::MutexLock lock(&service->lease_mu_);
  for (const StoredWorker& worker : workers) {
    service->next_worker_number_ = std::max(service->next_worker_number_, WorkerNumber(worker.worker_id) + 1);
    service->lease_expiry_[worker.worker_id] = lease_end;
  }
  return service;
}

absl::StatusOr<v1::RegisterWorkerResponse> CoordinatorWorkerService::Register(
    const v1::RegisterWorkerRequest& request, absl::string_view peer) {
  if (request.gpus_size() > 0 && !request.cuda_compiled_in()) {
    return absl::InvalidArgumentError(absl::StrCat("gpus: ", request.gpus_size(),
                                                   " GPU(s) offered by a worker built without CUDA "
                                                   "(cuda_compiled_in is false)"));
  }
  if (request.gpus_size() == 0 && request.cpu().memory_bytes() <= 0) {
    return absl::InvalidArgumentError("cpu.memory_bytes: a worker without GPUs must offer CPU memory");
  }
  const std::optional<int64_t> major = MajorVersion(request.version());
  if (!major.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("version: want \"MAJOR.MINOR.PATCH\", got \"", request.version(),
                                                   "\""));
  }
  const int64_t coordinator_major = *MajorVersion(options_.coordinator_version);
  if (*major != coordinator_major) {
    return absl::FailedPreconditionError(absl::StrCat("worker version ", request.version(),
                                                      " is incompatible with coordinator version ",
                                                      options_.coordinator_version, " (major ", *major, " != ",
                                                      coordinator_major, ")"));
  }

  // The duplicate check and the write are one step, so two registrations of one process cannot both pass.
  absl::MutexLock register_lock(&register_mu_);
  RETURN_IF_ERROR(CheckNotRegistered(request));
  StoredWorker worker;
  worker.registration = request;
  if (worker.registration.advertise_address().empty()) {
    worker.registration.set_advertise_address(PeerHost(peer));
  }
  // The number is taken under the lock and the store write happens outside it: a failed write wastes a number,
  // which is harmless (names are never reused anyway).
  {
    absl::MutexLock lock(&lease_mu_);
    worker.worker_id = absl::StrCat(kWorkerIdPrefix, next_worker_number_++);
  }
  RETURN_IF_ERROR(store_.PutWorker(worker));
  {
    absl::MutexLock lock(&lease_mu_);
    lease_expiry_[worker.worker_id] = clock_() + options_.lease_duration;
  }

  if (options_.on_registered) options_.on_registered();
  v1::RegisterWorkerResponse response;
  response.set_worker(absl::StrCat(kWorkerPrefix, worker.worker_id));
  SetDuration(options_.lease_duration, *response.mutable_lease_duration());
  SetDuration(options_.lease_duration / 3, *response.mutable_heartbeat_interval());
  response.set_coordinator_version(options_.coordinator_version);
  return response;
}

absl::Status CoordinatorWorkerService::CheckNotRegistered(const v1::RegisterWorkerRequest& request) {
  ASSIGN_OR_RETURN(const std::vector<StoredWorker> stored, store_.ListWorkers());
  const std::vector<std::string> live = LiveWorkers(clock_());
  const std::set<std::string> live_ids(live.begin(), live.end());
  for (const StoredWorker& other : stored) {
    if (!live_ids.contains(other.worker_id) || other.registration.host() != request.host()) continue;
    const std::string name = absl::StrCat(kWorkerPrefix, other.worker_id);
    if (!request.instance().empty() && other.registration.instance() == request.instance()) {
      return absl::AlreadyExistsError(absl::StrCat("worker instance \"", request.instance(), "\" on host ",
                                                   request.host(), " is already registered as ", name,
                                                   " (its lease must run out first)"));
    }
    for (const v1::GpuDevice& gpu : request.gpus()) {
      for (const v1::GpuDevice& taken : other.registration.gpus()) {
        if (!gpu.pci_bus_id().empty() && gpu.pci_bus_id() == taken.pci_bus_id()) {
          return absl::AlreadyExistsError(absl::StrCat("GPU ", gpu.pci_bus_id(), " on host ", request.host(),
                                                       " is already driven by ", name));
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::HeartbeatResponse> CoordinatorWorkerService::Beat(const v1::HeartbeatRequest& request) {
  ASSIGN_OR_RETURN(const std::string id, ParseWorkerName(request.worker(), "worker"));
  const absl::Time now = clock_();
  v1::HeartbeatResponse response;
  absl::MutexLock lock(&lease_mu_);
  if (lost_.contains(id)) {
    response.set_lease_valid(false);
    return response;
  }
  auto it = lease_expiry_.find(id);
  if (it == lease_expiry_.end()) return absl::NotFoundError(absl::StrCat("worker ", request.worker(), " not found"));
  if (it->second <= now) {
    // Too late: the lease is gone even if ExpireLeases has not swept it yet. The worker keeps its table entry so
    // the sweep still reports it (the scheduler must give up its ranks either way).
    response.set_lease_valid(false);
    SetTimestamp(it->second, *response.mutable_lease_expire_time());
    return response;
  }
  it->second = now + options_.lease_duration;
  response.set_lease_valid(true);
  SetTimestamp(it->second, *response.mutable_lease_expire_time());
  return response;
}

std::vector<std::string> CoordinatorWorkerService::ExpireLeases(absl::Time now) {
  std::vector<std::string> expired;
  {
    absl::MutexLock lock(&lease_mu_);
    for (auto it = lease_expiry_.begin(); it != lease_expiry_.end();) {
      if (it->second > now) {
        ++it;
        continue;
      }
      expired.push_back(it->first);
      lost_.insert(it->first);
      it = lease_expiry_.erase(it);
    }
  }
  if (!expired.empty()) {
    absl::MutexLock lock(&assign_mu_);
    for (const std::string& id : expired) mailboxes_.erase(id);
    assign_cv_.SignalAll();  // Their streams end.
  }
  for (const std::string& id : expired) {
    if (absl::Status deleted = store_.DeleteWorker(id); !deleted.ok()) {
      FTD_LOG(WARNING) << "worker " << kWorkerPrefix << id << " lost its lease; deleting its registration: " << deleted;
    }
  }
  return expired;
}

int CoordinatorWorkerService::live_workers() const {
  absl::MutexLock lock(&lease_mu_);
  return static_cast<int>(lease_expiry_.size());
}

std::vector<std::string> CoordinatorWorkerService::PlaceableWorkers(absl::Time now) const {
  std::vector<std::string> placeable;
  absl::MutexLock lock(&lease_mu_);
  for (const auto& [id, expiry] : lease_expiry_) {
    if (expiry - now >= options_.lease_duration / 2) placeable.push_back(id);
  }
  return placeable;
}

std::vector<std::string> CoordinatorWorkerService::LiveWorkers(absl::Time now) const {
  std::vector<std::string> live;
  absl::MutexLock lock(&lease_mu_);
  for (const auto& [id, expiry] : lease_expiry_) {
    if (expiry > now) live.push_back(id);
  }
  return live;
}

bool CoordinatorWorkerService::HasLease(const std::string& id) const {
  const absl::Time now = clock_();
  absl::MutexLock lock(&lease_mu_);
  // A lease that ran out counts as lost before the sweep finds it, as Beat answers.
  auto it = lease_expiry_.find(id);
  return it != lease_expiry_.end() && it->second > now && !lost_.contains(id);
}

bool CoordinatorWorkerService::QueueCommand(absl::string_view worker, v1::WorkerCommand command) {
  absl::StatusOr<std::string> id = ParseWorkerName(worker, "worker");
  if (!id.ok()) return false;
  // The lease is checked under assign_mu_ (lock order: assign_mu_, then lease_mu_), so an ExpireLeases that marks
  // the worker lost either comes first (dropped here) or erases this mailbox after the push.
  absl::MutexLock lock(&assign_mu_);
  if (!HasLease(*id)) return false;
  mailboxes_[*id].pending.push_back(std::move(command));
  assign_cv_.SignalAll();
  return true;
}

void CoordinatorWorkerService::Shutdown() {
  {
    absl::MutexLock lock(&rendezvous_mu_);
    shut_down_ = true;
    rendezvous_cv_.SignalAll();
  }
  absl::MutexLock lock(&assign_mu_);
  assign_shut_down_ = true;
  assign_cv_.SignalAll();
}

absl::Status CoordinatorWorkerService::Watch(grpc::ServerContext& context, const v1::WatchAssignmentsRequest& request,
                                             grpc::ServerWriter<v1::WorkerCommand>& writer) {
  ASSIGN_OR_RETURN(const std::string id, ParseWorkerName(request.worker(), "worker"));
  int64_t stream = 0;
  {
    absl::MutexLock lock(&assign_mu_);
    if (assign_shut_down_) return absl::UnavailableError("the coordinator is shutting down");
    if (!HasLease(id)) {
      return absl::NotFoundError(
          absl::StrCat("worker ", request.worker(), " not found (unknown, or its lease ran out)"));
    }
    Mailbox& mailbox = mailboxes_[id];
    // What is queued now was stored before it was queued, so the replay below sends it.
    mailbox.pending.clear();
    stream = ++mailbox.stream;
    assign_cv_.SignalAll();  // An older stream of this worker ends.
  }

  int64_t sequence = 0;
  auto send = [&](v1::WorkerCommand& command) {
    command.set_sequence(++sequence);
    return writer.Write(command);
  };
  ASSIGN_OR_RETURN(const std::vector<v1::Job> jobs, ListUnfinishedJobs(store_));
  for (const v1::Job& job : jobs) {
    for (const v1::RankPlacement& placement : job.placement()) {
      if (placement.worker() != request.worker()) continue;
      v1::WorkerCommand command;
      *command.mutable_run_rank() = RunRankFor(job, placement);
      if (!send(command)) return absl::CancelledError("the client went away");
    }
  }

  while (true) {
    std::deque<v1::WorkerCommand> batch;
    {
      absl::MutexLock lock(&assign_mu_);
      // The wait is on the wall clock: it only bounds how late a cancelled client is noticed.
      const absl::Time wake = absl::Now() + options_.wait_cancel_check_interval;
      while (true) {
        if (assign_shut_down_) return absl::UnavailableError("the coordinator is shutting down");
        auto it = mailboxes_.find(id);
        if (it == mailboxes_.end()) {
          return absl::NotFoundError(absl::StrCat("worker ", request.worker(), " lost its lease; register again"));
        }
        if (it->second.stream != stream) {
          return absl::AbortedError(absl::StrCat("a newer WatchAssignments stream of ", request.worker(),
                                                 " replaced this one"));
        }
        if (!it->second.pending.empty()) {
          batch.swap(it->second.pending);
          break;
        }
        if (assign_cv_.WaitWithDeadline(&assign_mu_, wake)) break;
      }
    }
    for (v1::WorkerCommand& command : batch) {
      if (!send(command)) return absl::CancelledError("the client went away");
    }
    if (context.IsCancelled()) return absl::CancelledError("the client went away");
  }
}

absl::Status CoordinatorWorkerService::Set(const v1::RendezvousSetRequest& request) {
  ASSIGN_OR_RETURN(const std::string scope, Scope(request.job(), request.attempt()));
  RETURN_IF_ERROR(CheckKey(request.key(), "key"));
  if (request.value().size() > kMaxValueBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("value: ", request.value().size(), " bytes, at most ", kMaxValueBytes));
  }
  RETURN_IF_ERROR(store_.RendezvousSet(scope, request.key(), request.value()));
  absl::MutexLock lock(&rendezvous_mu_);
  ++rendezvous_generation_;
  rendezvous_cv_.SignalAll();
  return absl::OkStatus();
}

absl::StatusOr<v1::RendezvousGetResponse> CoordinatorWorkerService::Get(const v1::RendezvousGetRequest& request) {
  ASSIGN_OR_RETURN(const std::string scope, Scope(request.job(), request.attempt()));
  RETURN_IF_ERROR(CheckKey(request.key(), "key"));
  ASSIGN_OR_RETURN(std::optional<std::string> value, store_.RendezvousGet(scope, request.key()));
  if (!value.has_value()) {
    return absl::NotFoundError(absl::StrCat("rendezvous key \"", request.key(), "\" of ", scope, " is not set"));
  }
  v1::RendezvousGetResponse response;
  response.set_value(*std::move(value));
  return response;
}

absl::StatusOr<v1::RendezvousWaitResponse> CoordinatorWorkerService::Wait(grpc::ServerContext& context,
                                                                         const v1::RendezvousWaitRequest& request) {
  ASSIGN_OR_RETURN(const std::string scope, Scope(request.job(), request.attempt()));
  if (request.keys().empty()) return absl::InvalidArgumentError("keys: at least one key is required");
  for (const std::string& key : request.keys()) RETURN_IF_ERROR(CheckKey(key, "keys"));
  absl::Duration timeout = kDefaultWaitTimeout;
  if (request.has_timeout()) {
    timeout = absl::Seconds(request.timeout().seconds()) + absl::Nanoseconds(request.timeout().nanos());
    if (timeout <= absl::ZeroDuration()) return absl::InvalidArgumentError("timeout: must be positive");
  }
  // The wait is on the wall clock (a condition variable), not the injected clock: it bounds a blocked call.
  const absl::Time deadline = absl::Now() + timeout;

  v1::RendezvousWaitResponse response;
  std::vector<std::string> missing(request.keys().begin(), request.keys().end());
  while (true) {
    int64_t seen_generation = 0;
    {
      absl::MutexLock lock(&rendezvous_mu_);
      if (shut_down_) return absl::UnavailableError("the coordinator is shutting down");
      seen_generation = rendezvous_generation_;
    }
    std::vector<std::string> still_missing;
    for (const std::string& key : missing) {
      ASSIGN_OR_RETURN(std::optional<std::string> value, store_.RendezvousGet(scope, key));
      if (value.has_value()) {
        (*response.mutable_values())[key] = *std::move(value);
      } else {
        still_missing.push_back(key);
      }
    }
    missing = std::move(still_missing);
    if (missing.empty()) return response;
    if (context.IsCancelled()) return absl::CancelledError("the client went away");
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("rendezvous of ", scope, ": after ",
                                                      absl::FormatDuration(timeout), " still missing ",
                                                      absl::StrJoin(missing, ", ")));
    }
    absl::MutexLock lock(&rendezvous_mu_);
    const absl::Time wake = std::min(deadline, now + options_.wait_cancel_check_interval);
    while (rendezvous_generation_ == seen_generation && !shut_down_) {
      if (rendezvous_cv_.WaitWithDeadline(&rendezvous_mu_, wake)) break;
    }
  }
}

grpc::Status CoordinatorWorkerService::RegisterWorker(grpc::ServerContext* context,
                                                      const v1::RegisterWorkerRequest* request,
                                                      v1::RegisterWorkerResponse* response) {
  absl::StatusOr<v1::RegisterWorkerResponse> result = Register(*request, context->peer());
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status CoordinatorWorkerService::Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                                                 v1::HeartbeatResponse* response) {
  absl::StatusOr<v1::HeartbeatResponse> result = Beat(*request);
  if (!result.ok()) return ToGrpc(result.status());
  if (result->lease_valid() && runtime_ != nullptr && !request->ranks().empty()) {
    runtime_->AbortUnassigned(request->worker(), {request->ranks().begin(), request->ranks().end()});
  }
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status CoordinatorWorkerService::WatchAssignments(grpc::ServerContext* context,
                                                        const v1::WatchAssignmentsRequest* request,
                                                        grpc::ServerWriter<v1::WorkerCommand>* writer) {
  return ToGrpc(Watch(*context, *request, *writer));
}

absl::Status CoordinatorWorkerService::CheckWorker(absl::string_view worker) const {
  ASSIGN_OR_RETURN(const std::string id, ParseWorkerName(worker, "worker"));
  if (!HasLease(id)) {
    return absl::FailedPreconditionError(absl::StrCat("worker ", worker, " holds no lease; register again"));
  }
  if (runtime_ == nullptr) return absl::UnavailableError("the coordinator is starting");
  return absl::OkStatus();
}

grpc::Status CoordinatorWorkerService::ReportMetrics(grpc::ServerContext*, const v1::ReportMetricsRequest* request,
                                                     v1::ReportMetricsResponse* response) {
  if (absl::Status ok = CheckWorker(request->worker()); !ok.ok()) return ToGrpc(ok);
  absl::StatusOr<v1::ReportMetricsResponse> result = runtime_->Report(*request);
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status CoordinatorWorkerService::PutCheckpoint(grpc::ServerContext*,
                                                     grpc::ServerReader<v1::PutCheckpointRequest>* reader,
                                                     v1::Checkpoint* response) {
  if (runtime_ == nullptr) return ToGrpc(absl::UnavailableError("the coordinator is starting"));
  v1::PutCheckpointRequest first;
  if (!reader->Read(&first) || !first.has_header()) {
    return ToGrpc(absl::InvalidArgumentError("the first message of a PutCheckpoint stream must be the header"));
  }
  absl::StatusOr<v1::Checkpoint> stored =
      runtime_->PutCheckpoint(first.header(), [&](v1::PutCheckpointRequest& next) { return reader->Read(&next); });
  if (!stored.ok()) return ToGrpc(stored.status());
  *response = *std::move(stored);
  return grpc::Status::OK;
}

grpc::Status CoordinatorWorkerService::GetCheckpoint(grpc::ServerContext*, const v1::GetCheckpointRequest* request,
                                                     grpc::ServerWriter<v1::GetCheckpointResponse>* writer) {
  if (runtime_ == nullptr) return ToGrpc(absl::UnavailableError("the coordinator is starting"));
  return ToGrpc(runtime_->GetCheckpoint(
      *request, [&](const v1::GetCheckpointResponse& message) { return writer->Write(message); }));
}

std::map<std::string, absl::Time> CoordinatorWorkerService::LeaseExpiries() const {
  absl::MutexLock lock(&lease_mu_);
  return lease_expiry_;
}

grpc::Status CoordinatorWorkerService::RendezvousSet(grpc::ServerContext*, const v1::RendezvousSetRequest* request,
                                                     v1::RendezvousSetResponse*) {
  return ToGrpc(Set(*request));
}

grpc::Status CoordinatorWorkerService::RendezvousGet(grpc::ServerContext*, const v1::RendezvousGetRequest* request,
                                                     v1::RendezvousGetResponse* response) {
  absl::StatusOr<v1::RendezvousGetResponse> result = Get(*request);
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status CoordinatorWorkerService::RendezvousWait(grpc::ServerContext* context,
                                                      const v1::RendezvousWaitRequest* request,
                                                      v1::RendezvousWaitResponse* response) {
  absl::StatusOr<v1::RendezvousWaitResponse> result = Wait(*context, *request);
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace ftd
