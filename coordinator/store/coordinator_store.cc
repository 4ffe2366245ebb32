// The RocksDB CoordinatorStore: one column family per kind of state, protobuf values, every write synced, and a
// job's record plus its new events in one WriteBatch. The only coordinator file that includes RocksDB headers.
//
// Layout (family: key -> value):
//   default:      "format" -> kStoreFormat; "next_job_number" -> decimal, the number the next job gets
//   jobs:         "id/<job>" -> "<number, 12 digits>";  "job/<number, 12 digits>" -> ftd.v1.Job
//   events:       "<job>/<sequence, 12 digits>" -> ftd.v1.JobEvent
//   workers:      "<worker>" -> ftd.v1.RegisterWorkerRequest
//   eval_results: "<job>/r/<name>" -> ftd.v1.BenchmarkResult;  "<job>/t" -> ftd.v1.TransferReport
//   rendezvous:   "<scope>\0<key>" -> value bytes
//   checkpoints:  "jobs/<job>/" + RocksDbCheckpointStore's keys (rocksdb_checkpoint_store.h)
// Job numbers come from a counter written in the same batch as the job, so key order is creation order and a
// number is never handed out twice. Job ids hold no '/', so "<job>/" prefixes exactly one job's keys.
#include "coordinator/store/coordinator_store.h"

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/checkpoint/rocksdb_checkpoint_store.h"
#include "common/checkpoint/rocksdb_status.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/jobs/job_lifecycle.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/message_differencer.h"
#include "rocksdb/db.h"
#include "rocksdb/iterator.h"
#include "rocksdb/options.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"

namespace ftd {
namespace {

using ::ftd::v1::Job;
using ::ftd::v1::JobEvent;
using ::ftd::v1::JobState;

// Bump when the layout above changes incompatibly; Open refuses a DB of another format.
constexpr char kStoreFormat[] = "ftd-coordinator-store/1";
constexpr char kFormatKey[] = "format";
constexpr char kNextJobNumberKey[] = "next_job_number";
constexpr int64_t kMaxNumber = 999'999'999'999;  // 12 digits keep numbered keys in numeric order.
constexpr char kJobKeyPrefix[] = "job/";
constexpr char kPageTokenPrefix[] = "after-job/";

// Column families in the order Open passes them, so handles_[family] is the family's handle.
enum Family : int { kDefault = 0, kJobs, kEvents, kWorkers, kCheckpoints, kEvalResults, kRendezvous, kFamilies };
constexpr const char* kFamilyNames[kFamilies] = {
    "default", "jobs", "events", "workers", kCheckpointColumnFamily, "eval_results", "rendezvous"};

rocksdb::Slice ToSlice(absl::string_view bytes) { return rocksdb::Slice(bytes.data(), bytes.size()); }
absl::string_view ToView(const rocksdb::Slice& slice) { return absl::string_view(slice.data(), slice.size()); }

rocksdb::WriteOptions SyncedWrite() {
  rocksdb::WriteOptions options;
  options.sync = true;
  return options;
}

// --- Ids and keys. ---

absl::Status ValidateJobId(absl::string_view id) {
  bool ok = !id.empty() && id.size() <= 63 && absl::ascii_islower(id[0]);
  for (char c : id) ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-');
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("job id \"", absl::CEscape(id), "\" does not match [a-z][a-z0-9-]{0,62}"));
}

// [A-Za-z0-9._-]{1,max} plus '/' where `slash_ok`; `what` names the thing for the error.
absl::Status ValidateName(absl::string_view what, absl::string_view name, size_t max, bool slash_ok) {
  bool ok = !name.empty() && name.size() <= max;
  for (char c : name) ok = ok && (absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-' || (slash_ok && c == '/'));
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, " \"", absl::CEscape(name), "\" does not match [A-Za-z0-9._",
                                                 slash_ok ? "/" : "", "-]{1,", max, "}"));
}

absl::Status ValidateWorkerId(absl::string_view id) { return ValidateName("worker id", id, 128, false); }

std::string Numbered(int64_t number) { return absl::StrFormat("%012d", number); }
std::string JobIdKey(absl::string_view job_id) { return absl::StrCat("id/", job_id); }
std::string JobKey(int64_t number) { return absl::StrCat(kJobKeyPrefix, Numbered(number)); }
std::string EventKey(absl::string_view job_id, int64_t sequence) {
  return absl::StrCat(job_id, "/", Numbered(sequence));
}
std::string EvalResultPrefix(absl::string_view job_id) { return absl::StrCat(job_id, "/r/"); }
std::string TransferReportKey(absl::string_view job_id) { return absl::StrCat(job_id, "/t"); }
std::string CheckpointPrefix(absl::string_view job_id) { return absl::StrCat("jobs/", job_id, "/"); }
// The rendezvous keys of a scope are exactly those in [RendezvousBegin, RendezvousEnd): scopes hold no '\0'.
std::string RendezvousBegin(absl::string_view scope) { return absl::StrCat(scope, absl::string_view("\0", 1)); }
std::string RendezvousEnd(absl::string_view scope) { return absl::StrCat(scope, "\x01"); }

std::string JobName(absl::string_view job_id) { return absl::StrCat("jobs/", job_id); }

absl::StatusOr<std::string> JobIdFromName(absl::string_view name) {
  absl::string_view id = name;
  if (!absl::ConsumePrefix(&id, "jobs/")) {
    return absl::InvalidArgumentError(absl::StrCat("job name \"", absl::CEscape(name), "\" is not jobs/{job}"));
  }
  RETURN_IF_ERROR(ValidateJobId(id));
  return std::string(id);
}

absl::Status DataLoss(Family family, absl::string_view key, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("coordinator store: ", kFamilyNames[family], " key \"", absl::CEscape(key),
                                          "\" does not hold ", what));
}

// A 12-digit number as written by Numbered; DATA_LOSS naming the key otherwise.
absl::StatusOr<int64_t> ParseNumber(Family family, absl::string_view key, absl::string_view digits) {
  int64_t number = 0;
  if (digits.size() != 12 || !absl::SimpleAtoi(digits, &number) || number < 0) {
    return DataLoss(family, key, "a 12-digit number");
  }
  return number;
}

template <typename Proto>
absl::StatusOr<Proto> Parse(Family family, absl::string_view key, absl::string_view bytes) {
  Proto proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return DataLoss(family, key, absl::StrCat("a valid ", proto.GetTypeName()));
  }
  return proto;
}

absl::StatusOr<std::string> Serialize(const google::protobuf::Message& message, absl::string_view what) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", message.GetTypeName(), " does not serialize"));
  }
  return bytes;
}

// Checks that `events` record exactly the move from `from` to job.state (see the class comment), numbers them
// after job.last_event_sequence, updates the job's sequence fields and adds the events to `batch`.
absl::Status AddEvents(JobState from, const std::string& job_id, Job& job, std::vector<JobEvent>& events,
                       rocksdb::ColumnFamilyHandle* family, rocksdb::WriteBatch& batch) {
  JobState state = from;
  for (size_t i = 0; i < events.size(); ++i) {
    const JobEvent& event = events[i];
    if (event.event_case() == JobEvent::EVENT_NOT_SET) {
      return absl::InvalidArgumentError(absl::StrCat("job ", job_id, ": event ", i, " has no payload"));
    }
    if (!event.has_state_change()) continue;
    const v1::StateChange& change = event.state_change();
    if (change.from_state() != state || change.to_state() == v1::JOB_STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat(
          "job ", job_id, ": event ", i, " changes the state from ", v1::JobState_Name(change.from_state()), " to ",
          v1::JobState_Name(change.to_state()), " but the job is ", v1::JobState_Name(state), " at that point"));
    }
    state = change.to_state();
  }
  if (state != job.state()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job ", job_id, ": the state goes from ", v1::JobState_Name(from), " to ", v1::JobState_Name(job.state()),
        " but its StateChange events end at ", v1::JobState_Name(state),
        " (a state change and its event are written together or not at all)"));
  }
  int64_t sequence = job.last_event_sequence();
  if (sequence + static_cast<int64_t>(events.size()) > kMaxNumber) {
    return absl::OutOfRangeError(absl::StrCat("job ", job_id, " has run out of event sequence numbers"));
  }
  const std::string name = JobName(job_id);
  for (JobEvent& event : events) {
    event.set_job(name);
    event.set_sequence(++sequence);
    if (event.has_state_change()) job.set_state_sequence(sequence);
    ASSIGN_OR_RETURN(const std::string bytes, Serialize(event, absl::StrCat("job ", job_id, " event")));
    RETURN_IF_ERROR(FromRocks(batch.Put(family, EventKey(job_id, sequence), bytes)));
  }
  job.set_last_event_sequence(sequence);
  return absl::OkStatus();
}

std::string EncodePageToken(int64_t last_number) {
  return absl::WebSafeBase64Escape(absl::StrCat(kPageTokenPrefix, last_number));
}

// The number of the first job the page starts at.
absl::StatusOr<int64_t> DecodePageToken(absl::string_view token) {
  if (token.empty()) return 1;
  std::string decoded;
  int64_t last_number = 0;
  if (absl::WebSafeBase64Unescape(token, &decoded)) {
    absl::string_view rest = decoded;
    if (absl::ConsumePrefix(&rest, kPageTokenPrefix) && absl::SimpleAtoi(rest, &last_number) && last_number >= 0 &&
        last_number < kMaxNumber) {
      return last_number + 1;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("page token \"", absl::CEscape(token), "\" was not made by ListJobs"));
}

class RocksDbCoordinatorStore final : public CoordinatorStore {
 public:
  // Takes ownership of the DB and of `handles`, one per Family in order.
  RocksDbCoordinatorStore(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : db_(std::move(db)), handles_(std::move(handles)) {}

  ~RocksDbCoordinatorStore() override {
    for (rocksdb::ColumnFamilyHandle* handle : handles_) {
      const absl::Status status = FromRocks(db_->DestroyColumnFamilyHandle(handle));
      if (!status.ok()) FTD_LOG(WARNING) << "coordinator store: " << status;
    }
    const absl::Status status = FromRocks(db_->Close());
    if (!status.ok()) FTD_LOG(WARNING) << "coordinator store: closing the DB: " << status;
  }

  RocksDbCoordinatorStore(const RocksDbCoordinatorStore&) = delete;
  RocksDbCoordinatorStore& operator=(const RocksDbCoordinatorStore&) = delete;

  // Open's second half: format check, job counter, orphan checkpoints, unfinished jobs.
  absl::Status Recover() {
    absl::MutexLock lock(&write_mu_);
    ASSIGN_OR_RETURN(std::optional<std::string> format, Read(kDefault, kFormatKey));
    if (!format.has_value()) {
      RETURN_IF_ERROR(FromRocks(db_->Put(SyncedWrite(), handle(kDefault), kFormatKey, kStoreFormat)));
    } else if (*format != kStoreFormat) {
      return absl::FailedPreconditionError(absl::StrCat("coordinator store has format \"", absl::CEscape(*format),
                                                        "\"; this ftd reads \"", kStoreFormat, "\""));
    }
    ASSIGN_OR_RETURN(std::optional<std::string> next, Read(kDefault, kNextJobNumberKey));
    next_job_number_ = 1;
    if (next.has_value() && (!absl::SimpleAtoi(*next, &next_job_number_) || next_job_number_ < 1)) {
      return DataLoss(kDefault, kNextJobNumberKey, "a job number");
    }

    ASSIGN_OR_RETURN(recovery_.orphan_checkpoints_removed, RemoveAllOrphanCheckpoints());
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(kJobs)));
    for (it->Seek(kJobKeyPrefix); it->Valid() && it->key().starts_with(kJobKeyPrefix); it->Next()) {
      ASSIGN_OR_RETURN(Job job, Parse<Job>(kJobs, ToView(it->key()), ToView(it->value())));
      if (!IsTerminal(job.state())) recovery_.unfinished_jobs.push_back(std::move(job));
    }
    return FromRocks(it->status());
  }

  const StoreRecovery& recovery() const override { return recovery_; }

  absl::StatusOr<Job> CreateJob(Job job, std::vector<JobEvent> events) override {
    ASSIGN_OR_RETURN(const std::string job_id, JobIdFromName(job.name()));
    if (job.state() == v1::JOB_STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat("job ", job_id, ": a new job needs a state"));
    }
    absl::MutexLock lock(&write_mu_);
    ASSIGN_OR_RETURN(std::optional<std::string> taken, Read(kJobs, JobIdKey(job_id)));
    if (taken.has_value()) return absl::AlreadyExistsError(absl::StrCat("job ", job_id, " already exists"));
    if (next_job_number_ > kMaxNumber) return absl::OutOfRangeError("coordinator store: out of job numbers");

    job.set_last_event_sequence(0);
    job.set_state_sequence(0);
    rocksdb::WriteBatch batch;
    RETURN_IF_ERROR(AddEvents(v1::JOB_STATE_UNSPECIFIED, job_id, job, events, handle(kEvents), batch));
    ASSIGN_OR_RETURN(const std::string bytes, Serialize(job, absl::StrCat("job ", job_id)));
    const int64_t number = next_job_number_;
    RETURN_IF_ERROR(FromRocks(batch.Put(handle(kJobs), JobIdKey(job_id), Numbered(number))));
    RETURN_IF_ERROR(FromRocks(batch.Put(handle(kJobs), JobKey(number), bytes)));
    RETURN_IF_ERROR(FromRocks(batch.Put(handle(kDefault), kNextJobNumberKey, absl::StrCat(number + 1))));
    RETURN_IF_ERROR_CONTEXT(FromRocks(db_->Write(SyncedWrite(), &batch)), absl::StrCat("creating job ", job_id));
    next_job_number_ = number + 1;
    return job;
  }

  absl::StatusOr<Job> GetJob(absl::string_view job_id) override {
    RETURN_IF_ERROR(ValidateJobId(job_id));
    ASSIGN_OR_RETURN(const int64_t number, JobNumber(job_id));
    return ReadJob(number);
  }

  absl::StatusOr<Job> UpdateJob(absl::string_view job_id, JobMutation mutate) override {
    RETURN_IF_ERROR(ValidateJobId(job_id));
    const std::string id(job_id);
    absl::MutexLock lock(&write_mu_);
    ASSIGN_OR_RETURN(const int64_t number, JobNumber(id));
    ASSIGN_OR_RETURN(const Job stored, ReadJob(number));
    Job job = stored;
    std::vector<JobEvent> events;
    RETURN_IF_ERROR(mutate(job, events));
    if (job.name() != stored.name()) {
      return absl::InvalidArgumentError(absl::StrCat("job ", id, ": an update may not rename it to \"",
                                                     absl::CEscape(job.name()), "\""));
    }
    job.set_last_event_sequence(stored.last_event_sequence());  // The store's fields, whatever the mutation did.
    job.set_state_sequence(stored.state_sequence());
    if (events.empty() && google::protobuf::util::MessageDifferencer::Equals(job, stored)) return job;

    rocksdb::WriteBatch batch;
    RETURN_IF_ERROR(AddEvents(stored.state(), id, job, events, handle(kEvents), batch));
    ASSIGN_OR_RETURN(const std::string bytes, Serialize(job, absl::StrCat("job ", id)));
    RETURN_IF_ERROR(FromRocks(batch.Put(handle(kJobs), JobKey(number), bytes)));
    RETURN_IF_ERROR_CONTEXT(FromRocks(db_->Write(SyncedWrite(), &batch)), absl::StrCat("updating job ", id));
    return job;
  }

  absl::StatusOr<JobPage> ListJobs(const JobQuery& query) override {
    if (query.page_size <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("ListJobs: page_size ", query.page_size, " is not positive"));
    }
    ASSIGN_OR_RETURN(const int64_t first, DecodePageToken(query.page_token));
    JobPage page;
    int64_t last_number = 0;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(kJobs)));
    for (it->Seek(JobKey(first)); it->Valid() && it->key().starts_with(kJobKeyPrefix); it->Next()) {
      const absl::string_view key = ToView(it->key());
      ASSIGN_OR_RETURN(Job job, Parse<Job>(kJobs, key, ToView(it->value())));
      if (query.filter && !query.filter(job)) continue;
      if (static_cast<int>(page.jobs.size()) == query.page_size) {  // One more match: there is a next page.
        page.next_page_token = EncodePageToken(last_number);
        break;
      }
      ASSIGN_OR_RETURN(last_number, ParseNumber(kJobs, key, key.substr(sizeof(kJobKeyPrefix) - 1)));
      page.jobs.push_back(std::move(job));
    }
    RETURN_IF_ERROR(FromRocks(it->status()));
    return page;
  }

  absl::StatusOr<std::vector<JobEvent>> ListEvents(absl::string_view job_id, int64_t after_sequence,
                                                   int limit) override {
    RETURN_IF_ERROR(ValidateJobId(job_id));
    if (after_sequence < 0 || after_sequence >= kMaxNumber || limit <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("ListEvents: after_sequence ", after_sequence, " or limit ",
                                                     limit, " out of range"));
    }
    RETURN_IF_ERROR(JobNumber(job_id).status());
    const std::string prefix = absl::StrCat(job_id, "/");
    std::vector<JobEvent> events;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(kEvents)));
    for (it->Seek(EventKey(job_id, after_sequence + 1));
         it->Valid() && it->key().starts_with(prefix) && static_cast<int>(events.size()) < limit; it->Next()) {
      ASSIGN_OR_RETURN(JobEvent event, Parse<JobEvent>(kEvents, ToView(it->key()), ToView(it->value())));
      events.push_back(std::move(event));
    }
    RETURN_IF_ERROR(FromRocks(it->status()));
    return events;
  }

  absl::Status PutWorker(const StoredWorker& worker) override {
    RETURN_IF_ERROR(ValidateWorkerId(worker.worker_id));
    ASSIGN_OR_RETURN(const std::string bytes,
                     Serialize(worker.registration, absl::StrCat("worker ", worker.worker_id)));
    RETURN_IF_ERROR_CONTEXT(FromRocks(db_->Put(SyncedWrite(), handle(kWorkers), worker.worker_id, bytes)),
                            absl::StrCat("storing worker ", worker.worker_id));
    return absl::OkStatus();
  }

  absl::StatusOr<StoredWorker> GetWorker(absl::string_view worker_id) override {
    RETURN_IF_ERROR(ValidateWorkerId(worker_id));
    ASSIGN_OR_RETURN(std::optional<std::string> bytes, Read(kWorkers, worker_id));
    if (!bytes.has_value()) return absl::NotFoundError(absl::StrCat("worker ", worker_id, " not found"));
    StoredWorker worker{std::string(worker_id), {}};
    ASSIGN_OR_RETURN(worker.registration, Parse<v1::RegisterWorkerRequest>(kWorkers, worker_id, *bytes));
    return worker;
  }

  absl::StatusOr<std::vector<StoredWorker>> ListWorkers() override {
    std::vector<StoredWorker> workers;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(kWorkers)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      StoredWorker worker{it->key().ToString(), {}};
      ASSIGN_OR_RETURN(worker.registration,
                       Parse<v1::RegisterWorkerRequest>(kWorkers, worker.worker_id, ToView(it->value())));
      workers.push_back(std::move(worker));
    }
    RETURN_IF_ERROR(FromRocks(it->status()));
    return workers;
  }

  absl::Status DeleteWorker(absl::string_view worker_id) override {
    RETURN_IF_ERROR(ValidateWorkerId(worker_id));
    RETURN_IF_ERROR_CONTEXT(FromRocks(db_->Delete(SyncedWrite(), handle(kWorkers), ToSlice(worker_id))),
                            absl::StrCat("deleting worker ", worker_id));
    return absl::OkStatus();
  }

  absl::Status RendezvousSet(absl::string_view scope, absl::string_view key, absl::string_view value) override {
    RETURN_IF_ERROR(ValidateRendezvous(scope, key));
    const std::string full_key = absl::StrCat(RendezvousBegin(scope), key);
    absl::MutexLock lock(&write_mu_);
    ASSIGN_OR_RETURN(std::optional<std::string> existing, Read(kRendezvous, full_key));
    if (existing.has_value()) {
      if (*existing == value) return absl::OkStatus();
      return absl::AlreadyExistsError(absl::StrCat("rendezvous key \"", absl::CEscape(key), "\" of scope \"",
                                                   absl::CEscape(scope), "\" is already set to another value"));
    }
    RETURN_IF_ERROR_CONTEXT(FromRocks(db_->Put(SyncedWrite(), handle(kRendezvous), full_key, ToSlice(value))),
                            absl::StrCat("rendezvous scope ", absl::CEscape(scope)));
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> RendezvousGet(absl::string_view scope, absl::string_view key) override {
    RETURN_IF_ERROR(ValidateRendezvous(scope, key));
    return Read(kRendezvous, absl::StrCat(RendezvousBegin(scope), key));
  }

  absl::Status RendezvousDeleteScope(absl::string_view scope) override {
    RETURN_IF_ERROR(ValidateRendezvous(scope, "-"));
    RETURN_IF_ERROR_CONTEXT(FromRocks(db_->DeleteRange(SyncedWrite(), handle(kRendezvous), RendezvousBegin(scope),
                                                       RendezvousEnd(scope))),
                            absl::StrCat("deleting rendezvous scope ", absl::CEscape(scope)));
    return absl::OkStatus();
  }

  absl::Status PutEvalResult(absl::string_view job_id, absl::string_view name,
                             const v1::BenchmarkResult& result) override {
    RETURN_IF_ERROR(ValidateJobId(job_id));
    RETURN_IF_ERROR(ValidateName("eval result name", name, 256, true));
    const std::string context = absl::StrCat("job ", job_id, " eval result ", name);
    ASSIGN_OR_RETURN(const std::string bytes, Serialize(result, context));
    RETURN_IF_ERROR_CONTEXT(
        FromRocks(db_->Put(SyncedWrite(), handle(kEvalResults), absl::StrCat(EvalResultPrefix(job_id), name), bytes)),
        context);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<NamedEvalResult>> ListEvalResults(absl::string_view job_id) override {
    RETURN_IF_ERROR(ValidateJobId(job_id));
    const std::string prefix = EvalResultPrefix(job_id);
    std::vector<NamedEvalResult> results;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(kEvalResults)));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      const absl::string_view key = ToView(it->key());
      NamedEvalResult named{std::string(key.substr(prefix.size())), {}};
      ASSIGN_OR_RETURN(named.result, Parse<v1::BenchmarkResult>(kEvalResults, key, ToView(it->value())));
      results.push_back(std::move(named));
    }
    RETURN_IF_ERROR(FromRocks(it->status()));
    return results;
  }

  absl::Status PutTransferReport(absl::string_view job_id, const v1::TransferReport& report) override {
    RETURN_IF_ERROR(ValidateJobId(job_id));
    const std::string context = absl::StrCat("job ", job_id, " transfer report");
    ASSIGN_OR_RETURN(const std::string bytes, Serialize(report, context));
    RETURN_IF_ERROR_CONTEXT(
        FromRocks(db_->Put(SyncedWrite(), handle(kEvalResults), TransferReportKey(job_id), bytes)), context);
    return absl::OkStatus();
  }

  absl::StatusOr<v1::TransferReport> GetTransferReport(absl::string_view job_id) override {
    RETURN_IF_ERROR(ValidateJobId(job_id));
    const std::string key = TransferReportKey(job_id);
    ASSIGN_OR_RETURN(std::optional<std::string> bytes, Read(kEvalResults, key));
    if (!bytes.has_value()) return absl::NotFoundError(absl::StrCat("job ", job_id, " has no transfer report"));
    return Parse<v1::TransferReport>(kEvalResults, key, *bytes);
  }

  absl::StatusOr<std::unique_ptr<CheckpointStore>> Checkpoints(absl::string_view job_id) override {
    RETURN_IF_ERROR(ValidateJobId(job_id));
    return NewRocksDbCheckpointStore(db_.get(), handle(kCheckpoints), CheckpointPrefix(job_id));
  }

  absl::StatusOr<int64_t> RemoveAllOrphanCheckpoints() override {
    int64_t removed = 0;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(kCheckpoints)));
    it->Seek("jobs/");
    while (it->Valid()) {
      absl::string_view rest = ToView(it->key());
      if (!absl::ConsumePrefix(&rest, "jobs/")) break;
      const absl::string_view job_id = rest.substr(0, rest.find('/'));
      if (job_id.size() == rest.size() || !ValidateJobId(job_id).ok()) {
        it->Next();  // Not a key a job's view writes; leave it alone.
        continue;
      }
      const std::string id(job_id);
      ASSIGN_OR_RETURN(const int64_t orphans, NewRocksDbCheckpointStore(db_.get(), handle(kCheckpoints),
                                                                        CheckpointPrefix(id))->RemoveOrphans());
      removed += orphans;
      it->Seek(absl::StrCat("jobs/", id, "0"));  // Past every "jobs/<id>/" key: '0' follows '/'.
    }
    RETURN_IF_ERROR(FromRocks(it->status()));
    return removed;
  }

  absl::Status DeleteJobCheckpoints(absl::string_view job_id) override {
    RETURN_IF_ERROR(ValidateJobId(job_id));
    RETURN_IF_ERROR_CONTEXT(FromRocks(db_->DeleteRange(SyncedWrite(), handle(kCheckpoints), CheckpointPrefix(job_id),
                                                       absl::StrCat("jobs/", job_id, "0"))),
                            absl::StrCat("deleting the checkpoints of job ", job_id));
    return absl::OkStatus();
  }

  absl::Status Backup(const std::string& directory) override {
    std::error_code error;
    if (std::filesystem::exists(directory, error)) {
      return absl::AlreadyExistsError(absl::StrCat(directory, " exists (a backup goes into a new directory)"));
    }
    rocksdb::Checkpoint* raw = nullptr;
    RETURN_IF_ERROR_CONTEXT(FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw)), "backing up the store");
    const std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    // log_size_for_flush 0: flush the memtables first, so the copy's state is in SST files (the WAL is copied too).
    RETURN_IF_ERROR_CONTEXT(FromRocks(checkpoint->CreateCheckpoint(directory, /*log_size_for_flush=*/0)),
                            absl::StrCat("backing up the store to ", directory));
    return absl::OkStatus();
  }

 private:
  rocksdb::ColumnFamilyHandle* handle(Family family) const { return handles_[family]; }

  // The value at `key`, nullopt when absent.
  absl::StatusOr<std::optional<std::string>> Read(Family family, absl::string_view key) {
    std::string value;
    const rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), handle(family), ToSlice(key), &value);
    if (status.IsNotFound()) return std::nullopt;
    RETURN_IF_ERROR_CONTEXT(FromRocks(status), absl::StrCat("coordinator store: reading ", kFamilyNames[family],
                                                            " key \"", absl::CEscape(key), "\""));
    return value;
  }

  // The job's number (its place in creation order); NOT_FOUND when there is no such job.
  absl::StatusOr<int64_t> JobNumber(absl::string_view job_id) {
    const std::string key = JobIdKey(job_id);
    ASSIGN_OR_RETURN(std::optional<std::string> digits, Read(kJobs, key));
    if (!digits.has_value()) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
    return ParseNumber(kJobs, key, *digits);
  }

  absl::StatusOr<Job> ReadJob(int64_t number) {
    const std::string key = JobKey(number);
    ASSIGN_OR_RETURN(std::optional<std::string> bytes, Read(kJobs, key));
    if (!bytes.has_value()) return DataLoss(kJobs, key, "the job its id index points at");
    return Parse<Job>(kJobs, key, *bytes);
  }

  static absl::Status ValidateRendezvous(absl::string_view scope, absl::string_view key) {
    if (scope.empty() || scope.find('\0') != absl::string_view::npos || key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("rendezvous scope \"", absl::CEscape(scope), "\" and key \"",
                                                     absl::CEscape(key),
                                                     "\" must be non-empty, and the scope may not hold a NUL byte"));
    }
    return absl::OkStatus();
  }

  const std::unique_ptr<rocksdb::DB> db_;
  const std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  StoreRecovery recovery_;  // Written by Recover, inside Open, before anyone else sees the store.
  absl::Mutex write_mu_;
  int64_t next_job_number_ ABSL_GUARDED_BY(write_mu_) = 1;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorStore>> CoordinatorStore::Open(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("coordinator store: empty DB path");
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (int family = 0; family < kFamilies; ++family) {
    families.emplace_back(kFamilyNames[family], family == kCheckpoints ? CheckpointColumnFamilyOptions()
                                                                       : rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  RETURN_IF_ERROR_CONTEXT(FromRocks(rocksdb::DB::Open(options, path, families, &handles, &db)),
                          absl::StrCat("opening coordinator store ", path));
  auto store = std::make_unique<RocksDbCoordinatorStore>(std::unique_ptr<rocksdb::DB>(db), std::move(handles));
  RETURN_IF_ERROR_CONTEXT(store->Recover(), absl::StrCat("recovering coordinator store ", path));
  return store;
}

absl::StatusOr<v1::Job> CoordinatorStore::AppendEvents(absl::string_view job_id, std::vector<v1::JobEvent> events) {
  return UpdateJob(job_id, [&](v1::Job&, std::vector<v1::JobEvent>& out) {
    out = std::move(events);
    return absl::OkStatus();
  });
}

}  // namespace ftd
