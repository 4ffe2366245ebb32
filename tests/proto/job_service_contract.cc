// The JobService contract suite: the spec survives byte for byte, paging/filter/idempotency/cancel/watch behave as
// job_service.proto documents, whichever implementation serves it.
#include "tests/proto/job_service_contract.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/proto/full_job_spec.h"

namespace ftd {

using google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// --- The fixture ---

void JobServiceContractTest::SetUp() {
  target_ = GetParam().start([this] { return clock_.Now(); });
  ASSERT_NE(target_, nullptr);
  absl::StatusOr<LocalServer> server = StartLocalServer(target_->service());
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  stub_ = v1::JobService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_.port), grpc::InsecureChannelCredentials()));
}

void JobServiceContractTest::TearDown() {
  if (target_ != nullptr) target_->Shutdown();
  if (server_.server != nullptr) server_.server->Shutdown();
}

void JobServiceContractTest::SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
}

v1::JobSpec JobServiceContractTest::NamedSpec(const std::string& name) const {
  v1::JobSpec spec;
  spec.set_name(name);
  spec.set_base_model(GetParam().base_model);
  spec.add_datasets()->set_path("/data/train.jsonl");
  return spec;
}

v1::JobSpec JobServiceContractTest::Full() const {
  v1::JobSpec spec = FullJobSpec();
  spec.set_base_model(GetParam().base_model);
  return spec;
}

v1::Job JobServiceContractTest::MustSubmit(const v1::JobSpec& spec, const std::string& request_id) {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  request.set_request_id(request_id);
  v1::Job job;
  const grpc::Status status = Call(&v1::JobService::Stub::SubmitJob, request, &job);
  EXPECT_TRUE(status.ok()) << status.error_message();
  clock_.Advance(absl::Seconds(1));
  return job;
}

grpc::Status JobServiceContractTest::List(const std::string& filter, int page_size, const std::string& token,
                                          v1::ListJobsResponse* out, const std::string& order_by) {
  v1::ListJobsRequest request;
  request.set_filter(filter);
  request.set_page_size(page_size);
  request.set_page_token(token);
  request.set_order_by(order_by);
  return Call(&v1::JobService::Stub::ListJobs, request, out);
}

std::pair<std::vector<std::string>, std::vector<int>> JobServiceContractTest::ListAll(const std::string& filter,
                                                                                      int page_size,
                                                                                      const std::string& order_by) {
  constexpr int kMaxPages = 50;
  std::vector<std::string> names;
  std::vector<int> page_sizes;
  std::string token;
  for (int pages = 0; pages < kMaxPages; ++pages) {
    v1::ListJobsResponse page;
    const grpc::Status status = List(filter, page_size, token, &page, order_by);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) return {names, page_sizes};
    for (const v1::Job& job : page.jobs()) names.push_back(job.spec().name());
    page_sizes.push_back(page.jobs_size());
    if (page.next_page_token().empty()) return {names, page_sizes};
    EXPECT_NE(page.next_page_token(), token) << "next_page_token did not advance";
    if (page.next_page_token() == token) return {names, page_sizes};
    token = page.next_page_token();
  }
  ADD_FAILURE() << "paging did not end within " << kMaxPages << " pages";
  return {names, page_sizes};
}

grpc::Status JobServiceContractTest::WatchAll(const std::string& name, int64_t after_sequence,
                                              std::vector<v1::JobEvent>* events) {
  grpc::ClientContext context;
  SetDeadline(context);
  v1::WatchJobRequest request;
  request.set_name(name);
  request.set_after_sequence(after_sequence);
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = stub_->WatchJob(&context, request);
  v1::JobEvent event;
  while (reader->Read(&event)) events->push_back(event);
  return reader->Finish();
}

// --- The cases ---

TEST_P(JobServiceContractTest, SubmitThenGetReturnsTheSpecByteForByte) {
  const v1::JobSpec spec = Full();
  const v1::Job submitted = MustSubmit(spec);
  EXPECT_EQ(submitted.name(), "jobs/ft-000001");
  EXPECT_EQ(submitted.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(submitted.create_time().seconds(), 1735787045);
  EXPECT_EQ(submitted.create_time().nanos(), 678000000);
  EXPECT_EQ(submitted.last_event_sequence(), 1);
  EXPECT_EQ(submitted.state_sequence(), 1);
  EXPECT_FALSE(submitted.has_start_time());
  EXPECT_TRUE(submitted.has_resolved_spec());

  v1::GetJobRequest get;
  get.set_name(submitted.name());
  v1::Job got;
  const grpc::Status status = Call(&v1::JobService::Stub::GetJob, get, &got);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(got.spec().SerializeAsString(), spec.SerializeAsString());
  EXPECT_TRUE(MessageDifferencer::Equals(got.spec(), spec)) << got.spec().DebugString();
  EXPECT_EQ(got.spec().seed(), 9007199254740993);
  EXPECT_TRUE(MessageDifferencer::Equals(got, submitted));
}

TEST_P(JobServiceContractTest, SubmitRejectsMissingFieldsAndValidateOnlyStoresNothing) {
  v1::SubmitJobRequest request;
  v1::Job job;
  EXPECT_EQ(Call(&v1::JobService::Stub::SubmitJob, request, &job).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request.mutable_spec()->set_name("no-model");
  const grpc::Status no_model = Call(&v1::JobService::Stub::SubmitJob, request, &job);
  EXPECT_EQ(no_model.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(no_model.error_message(), "spec.base_model: required");

  // The same validator as the YAML loader, with the key path under the request's `spec`.
  *request.mutable_spec() = NamedSpec("bad-rank");
  request.mutable_spec()->set_lora_r(-1);
  const grpc::Status bad_rank = Call(&v1::JobService::Stub::SubmitJob, request, &job);
  EXPECT_EQ(bad_rank.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad_rank.error_message(), "spec.lora_r: must be > 0, got -1");

  *request.mutable_spec() = Full();
  request.set_validate_only(true);
  ASSERT_TRUE(Call(&v1::JobService::Stub::SubmitJob, request, &job).ok());
  EXPECT_EQ(job.name(), "");
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_THAT(ListAll("", 10).first, IsEmpty());
}

TEST_P(JobServiceContractTest, ListPagesSevenJobsInThrees) {
  for (int i = 0; i < 7; ++i) MustSubmit(NamedSpec(absl::StrCat("job-", i)));

  auto [newest_first, pages] = ListAll("", 3);
  EXPECT_THAT(newest_first, ElementsAre("job-6", "job-5", "job-4", "job-3", "job-2", "job-1", "job-0"));
  EXPECT_THAT(pages, ElementsAre(3, 3, 1));

  auto [oldest_first, asc_pages] = ListAll("", 3, "create_time");
  EXPECT_THAT(oldest_first, ElementsAre("job-0", "job-1", "job-2", "job-3", "job-4", "job-5", "job-6"));
  EXPECT_THAT(asc_pages, ElementsAre(3, 3, 1));

  // Exactly one full page: no token pointing at an empty page.
  v1::ListJobsResponse all;
  ASSERT_TRUE(List("", 7, "", &all).ok());
  EXPECT_EQ(all.jobs_size(), 7);
  EXPECT_EQ(all.next_page_token(), "");
  ASSERT_TRUE(List("", 7, "", &all, "create_time").ok());
  EXPECT_EQ(all.next_page_token(), "");
  EXPECT_EQ(List("", -1, "", &all).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(List("", 3, "", &all, "priority").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_P(JobServiceContractTest, ListRejectsMalformedAndForeignPageTokens) {
  for (int i = 0; i < 4; ++i) MustSubmit(NamedSpec(absl::StrCat("job-", i)));
  v1::ListJobsResponse page;
  ASSERT_TRUE(List("", 2, "", &page).ok());
  ASSERT_FALSE(page.next_page_token().empty());

  v1::ListJobsResponse out;
  const grpc::Status garbage = List("", 2, "not a token!", &out);
  EXPECT_EQ(garbage.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(garbage.error_message(), HasSubstr("page_token"));
  EXPECT_EQ(List("", 2, "djE", &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);  // base64 of "v1"
  // A token is bound to its query: replaying it with another filter must not skip jobs silently.
  EXPECT_EQ(List("state=QUEUED", 2, page.next_page_token(), &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(List("", 2, page.next_page_token(), &out, "create_time").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(List("", 2, page.next_page_token(), &out).ok());
  ASSERT_EQ(out.jobs_size(), 2);
  EXPECT_EQ(out.jobs(0).spec().name(), "job-1");
}

TEST_P(JobServiceContractTest, ListFiltersByStateAndOtherKeys) {
  std::vector<v1::Job> jobs;
  for (int i = 0; i < 5; ++i) jobs.push_back(MustSubmit(NamedSpec(absl::StrCat("job-", i))));
  for (int i : {1, 3}) {
    v1::CancelJobRequest cancel;
    cancel.set_name(jobs[i].name());
    v1::Job cancelled;
    ASSERT_TRUE(Call(&v1::JobService::Stub::CancelJob, cancel, &cancelled).ok());
  }
  ASSERT_TRUE(target_->SetState(jobs[4].name(), v1::JOB_STATE_RUNNING, "AllRanksReady").ok());

  EXPECT_THAT(ListAll("state=CANCELLED", 1).first, ElementsAre("job-3", "job-1"));
  EXPECT_THAT(ListAll("state=CANCELLED", 1).second, ElementsAre(1, 1));
  EXPECT_THAT(ListAll("state=CANCELLED", 1, "create_time").first, ElementsAre("job-1", "job-3"));
  EXPECT_THAT(ListAll("state=RUNNING", 10).first, ElementsAre("job-4"));
  EXPECT_THAT(ListAll("state=QUEUED", 10).first, ElementsAre("job-2", "job-0"));
  EXPECT_THAT(ListAll("state=QUEUED AND spec.name=job-0", 10).first, ElementsAre("job-0"));
  EXPECT_EQ(ListAll(absl::StrCat("base_model=", GetParam().base_model), 10).first.size(), 5u);
  EXPECT_THAT(ListAll(absl::StrCat("base_model=", GetParam().base_model, " AND state=EVALUATING"), 10).first,
              IsEmpty());

  v1::ListJobsResponse out;
  const grpc::Status bad_state = List("state=SLEEPING", 10, "", &out);
  EXPECT_EQ(bad_state.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad_state.error_message(), HasSubstr("SLEEPING"));
  EXPECT_EQ(List("colour=red", 10, "", &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(List("state", 10, "", &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_P(JobServiceContractTest, PagingKeepsItsPlaceWhileListedJobsChangeState) {
  std::vector<v1::Job> jobs;
  for (int i = 0; i < 4; ++i) jobs.push_back(MustSubmit(NamedSpec(absl::StrCat("job-", i))));
  v1::ListJobsResponse first;
  ASSERT_TRUE(List("state=QUEUED", 2, "", &first).ok());
  ASSERT_EQ(first.jobs_size(), 2);
  // The last job of the page leaves the filter before the next page is asked for.
  v1::CancelJobRequest cancel;
  cancel.set_name(jobs[2].name());
  v1::Job cancelled;
  ASSERT_TRUE(Call(&v1::JobService::Stub::CancelJob, cancel, &cancelled).ok());
  v1::ListJobsResponse second;
  ASSERT_TRUE(List("state=QUEUED", 2, first.next_page_token(), &second).ok());
  ASSERT_EQ(second.jobs_size(), 2);
  EXPECT_EQ(second.jobs(0).spec().name(), "job-1");
  EXPECT_EQ(second.jobs(1).spec().name(), "job-0");
  EXPECT_EQ(second.next_page_token(), "");
}

TEST_P(JobServiceContractTest, CancelDuringWatchDeliversTheStateChangeAndEndsTheStream) {
  const v1::Job job = MustSubmit(Full());
  grpc::ClientContext context;
  SetDeadline(context);
  v1::WatchJobRequest watch;
  watch.set_name(job.name());
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = stub_->WatchJob(&context, watch);

  // Reading the first event proves the stream is open before the cancel: no sleeping needed.
  v1::JobEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 1);
  EXPECT_EQ(event.job(), job.name());
  EXPECT_EQ(event.state_change().from_state(), v1::JOB_STATE_UNSPECIFIED);
  EXPECT_EQ(event.state_change().to_state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(event.state_change().reason(), "Submitted");

  v1::CancelJobRequest cancel;
  cancel.set_name(job.name());
  cancel.set_reason("wrong dataset");
  v1::Job cancelled;
  ASSERT_TRUE(Call(&v1::JobService::Stub::CancelJob, cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(cancelled.end_time().seconds(), 1735787046);  // The clock moved 1 s after the submit.
  EXPECT_EQ(cancelled.update_time().seconds(), 1735787046);
  EXPECT_EQ(cancelled.state_sequence(), 2);

  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 2);
  EXPECT_EQ(event.time().seconds(), 1735787046);
  EXPECT_EQ(event.state_change().from_state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(event.state_change().to_state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(event.state_change().reason(), "CancelledByUser");
  EXPECT_EQ(event.state_change().message(), "wrong dataset");
  EXPECT_FALSE(reader->Read(&event)) << "the stream must end after the terminal state";
  const grpc::Status finished = reader->Finish();
  EXPECT_TRUE(finished.ok()) << finished.error_message();

  // A second cancel is a precondition failure, not a retryable error.
  const grpc::Status again = Call(&v1::JobService::Stub::CancelJob, cancel, &cancelled);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(again.error_message(), HasSubstr("CANCELLED"));
}

TEST_P(JobServiceContractTest, WatchResumesAfterAGivenSequence) {
  const v1::Job job = MustSubmit(NamedSpec("resume"));
  ASSERT_TRUE(target_->SetState(job.name(), v1::JOB_STATE_SCHEDULED, "Placed").ok());
  ASSERT_TRUE(target_->SetState(job.name(), v1::JOB_STATE_RUNNING, "AllRanksReady").ok());
  v1::JobEvent metrics;
  metrics.mutable_metrics()->set_step(10);
  metrics.mutable_metrics()->set_train_loss(2.5);
  ASSERT_EQ(*target_->AppendEvent(job.name(), metrics), 4);
  v1::JobEvent log;
  log.mutable_log()->set_level(v1::LOG_LEVEL_WARNING);
  log.mutable_log()->set_rank(1);
  log.mutable_log()->set_text("slow data loader");
  ASSERT_EQ(*target_->AppendEvent(job.name(), log), 5);
  ASSERT_TRUE(target_->SetState(job.name(), v1::JOB_STATE_SUCCEEDED, "EvaluationDone").ok());
  EXPECT_EQ(target_->AppendEvent(job.name(), metrics).status().code(), absl::StatusCode::kFailedPrecondition);

  std::vector<v1::JobEvent> events;
  ASSERT_TRUE(WatchAll(job.name(), 3, &events).ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].sequence(), 4);
  EXPECT_EQ(events[0].metrics().step(), 10);
  EXPECT_EQ(events[0].metrics().train_loss(), 2.5);
  EXPECT_EQ(events[1].log().text(), "slow data loader");
  EXPECT_EQ(events[1].log().rank(), 1);
  EXPECT_EQ(events[2].sequence(), 6);
  EXPECT_EQ(events[2].state_change().to_state(), v1::JOB_STATE_SUCCEEDED);

  std::vector<v1::JobEvent> none;
  EXPECT_TRUE(WatchAll(job.name(), 6, &none).ok());
  EXPECT_THAT(none, IsEmpty());
  EXPECT_TRUE(WatchAll(job.name(), 60, &none).ok()) << "past the end of an ended job";
  EXPECT_THAT(none, IsEmpty());
  EXPECT_EQ(WatchAll(job.name(), -1, &none).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::GetJobRequest get;
  get.set_name(job.name());
  v1::Job done;
  ASSERT_TRUE(Call(&v1::JobService::Stub::GetJob, get, &done).ok());
  EXPECT_TRUE(done.has_start_time());
  EXPECT_TRUE(done.has_end_time());
  EXPECT_EQ(done.last_event_sequence(), 6);
  EXPECT_EQ(done.state_sequence(), 6);
}

TEST_P(JobServiceContractTest, LiveWatchSeesEventsAppendedWhileItRuns) {
  const v1::Job job = MustSubmit(NamedSpec("live"));
  std::vector<v1::JobEvent> events;
  grpc::Status watch_status;
  // Whether the watcher is already waiting when the events arrive or not, it must see the same stream.
  std::thread watcher([&] { watch_status = WatchAll(job.name(), 1, &events); });
  ASSERT_TRUE(target_->SetState(job.name(), v1::JOB_STATE_RUNNING, "AllRanksReady").ok());
  v1::JobEvent metrics;
  metrics.mutable_metrics()->set_step(1);
  ASSERT_TRUE(target_->AppendEvent(job.name(), metrics).ok());
  ASSERT_TRUE(target_->SetState(job.name(), v1::JOB_STATE_FAILED, "NanLoss").ok());
  watcher.join();
  ASSERT_TRUE(watch_status.ok()) << watch_status.error_message();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].sequence(), 2);
  EXPECT_EQ(events[1].metrics().step(), 1);
  EXPECT_EQ(events[2].state_change().to_state(), v1::JOB_STATE_FAILED);
}

TEST_P(JobServiceContractTest, UnknownJobsAreNotFoundAndMalformedNamesInvalid) {
  v1::GetJobRequest get;
  get.set_name("jobs/ft-999999");
  v1::Job job;
  const grpc::Status missing = Call(&v1::JobService::Stub::GetJob, get, &job);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(missing.error_message(), HasSubstr("jobs/ft-999999"));
  get.set_name("ft-000001");
  EXPECT_EQ(Call(&v1::JobService::Stub::GetJob, get, &job).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  get.set_name("jobs/");
  EXPECT_EQ(Call(&v1::JobService::Stub::GetJob, get, &job).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::CancelJobRequest cancel;
  cancel.set_name("jobs/nope");
  const grpc::Status cancel_missing = Call(&v1::JobService::Stub::CancelJob, cancel, &job);
  EXPECT_EQ(cancel_missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(cancel_missing.error_message(), HasSubstr("jobs/nope"));
  std::vector<v1::JobEvent> events;
  EXPECT_EQ(WatchAll("jobs/nope", 0, &events).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(WatchAll("nope", 0, &events).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_P(JobServiceContractTest, ResubmitWithTheSameRequestIdReturnsTheFirstJob) {
  const std::string request_id = "5f0c6a52-8f4e-4d7b-9a51-3c2e1f0d9b7a";
  const v1::Job first = MustSubmit(Full(), request_id);
  const v1::Job retry = MustSubmit(Full(), request_id);
  EXPECT_EQ(retry.name(), first.name());
  EXPECT_EQ(retry.request_id(), request_id);
  EXPECT_TRUE(MessageDifferencer::Equals(retry, first));
  EXPECT_EQ(ListAll("", 10).first.size(), 1u);

  v1::SubmitJobRequest conflicting;
  *conflicting.mutable_spec() = NamedSpec("other");
  conflicting.set_request_id(request_id);
  v1::Job job;
  const grpc::Status status = Call(&v1::JobService::Stub::SubmitJob, conflicting, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(status.error_message(), HasSubstr(first.name()));

  conflicting.set_request_id(std::string(129, 'x'));
  EXPECT_EQ(Call(&v1::JobService::Stub::SubmitJob, conflicting, &job).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  EXPECT_NE(MustSubmit(Full(), "another-id").name(), first.name());
  EXPECT_NE(MustSubmit(Full()).name(), first.name());
  EXPECT_EQ(ListAll("", 10).first.size(), 3u);
}

}  // namespace ftd
