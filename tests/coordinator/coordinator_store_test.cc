// CoordinatorStore through its public contract: job CRUD and paging, a state change and its event written together
// or not at all, events, workers, the rendezvous KV, eval results, per-job checkpoint views, reopening, corrupt
// values and the one-process lock. The SIGKILL test is coordinator_store_crash_test.cc (same binary).
#include "coordinator/store/coordinator_store.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint/checkpoint_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_store_testing.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

std::vector<std::string> Names(const std::vector<v1::Job>& jobs) {
  std::vector<std::string> names;
  for (const v1::Job& job : jobs) names.push_back(job.name());
  return names;
}

class CoordinatorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  std::vector<v1::JobEvent> Events(const std::string& id) {
    absl::StatusOr<std::vector<v1::JobEvent>> events = store_->ListEvents(id, 0, 1000);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() ? *events : std::vector<v1::JobEvent>{};
  }

  TempDir temp_;
  const std::string path_ = temp_.file("db");
  std::unique_ptr<CoordinatorStore> store_;
};

// --- Jobs. ---

TEST_F(CoordinatorStoreTest, CreateStoresTheJobAndItsFirstEvent) {
  absl::StatusOr<v1::Job> created = Submit(*store_, "alpha");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->name(), "jobs/alpha");
  EXPECT_EQ(created->state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(created->state_sequence(), 1);
  EXPECT_EQ(created->last_event_sequence(), 1);

  absl::StatusOr<v1::Job> read = store_->GetJob("alpha");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->SerializeAsString(), created->SerializeAsString());
  EXPECT_EQ(read->spec().base_model(), "/models/llama-3.2-1b");

  const std::vector<v1::JobEvent> events = Events("alpha");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].job(), "jobs/alpha");
  EXPECT_EQ(events[0].sequence(), 1);
  EXPECT_EQ(events[0].state_change().from_state(), v1::JOB_STATE_UNSPECIFIED);
  EXPECT_EQ(events[0].state_change().to_state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(events[0].state_change().reason(), "Submitted");
}

TEST_F(CoordinatorStoreTest, TakenIdIsAlreadyExistsAndUnknownIdNotFound) {
  ASSERT_TRUE(Submit(*store_, "alpha").ok());
  absl::StatusOr<v1::Job> again = Submit(*store_, "alpha");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  EXPECT_THAT(Message(again.status()), HasSubstr("alpha"));
  EXPECT_EQ(Events("alpha").size(), 1u) << "the refused create wrote no event";

  absl::StatusOr<v1::Job> missing = store_->GetJob("beta");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing.status()), HasSubstr("job beta"));
  EXPECT_EQ(store_->ListEvents("beta", 0, 10).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Transition(*store_, "beta", {v1::JOB_STATE_SCHEDULED}).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorStoreTest, CreateRejectsBadNamesAndJobsWithoutTheirFirstEvent) {
  const v1::JobEvent submitted = StateEvent(v1::JOB_STATE_UNSPECIFIED, v1::JOB_STATE_QUEUED, "Submitted");
  for (const char* name : {"alpha", "jobs/", "jobs/Alpha", "jobs/1x", "jobs/a_b", "jobs/a/b", "workers/a"}) {
    v1::Job job = QueuedJob("x");
    job.set_name(name);
    EXPECT_EQ(store_->CreateJob(job, {submitted}).status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
  EXPECT_EQ(store_->CreateJob(QueuedJob(std::string(64, 'a')), {submitted}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Submit(*store_, std::string(63, 'a')).ok()) << "63 characters is the limit";

  v1::Job no_state = QueuedJob("no-state");
  no_state.clear_state();
  EXPECT_EQ(store_->CreateJob(no_state, {}).status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<v1::Job> no_event = store_->CreateJob(QueuedJob("no-event"), {});
  EXPECT_EQ(no_event.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(no_event.status()), HasSubstr("StateChange events end at JOB_STATE_UNSPECIFIED"));
  EXPECT_EQ(store_->CreateJob(QueuedJob("wrong-target"),
                              {StateEvent(v1::JOB_STATE_UNSPECIFIED, v1::JOB_STATE_RUNNING, "Submitted")})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateJob(QueuedJob("empty-event"), {submitted, v1::JobEvent()}).status().code(),
            absl::StatusCode::kInvalidArgument);

  absl::StatusOr<JobPage> page = store_->ListJobs({});
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(Names(page->jobs), ElementsAre("jobs/" + std::string(63, 'a'))) << "refused creates stored nothing";
}

TEST_F(CoordinatorStoreTest, ListJobsPagesInCreationOrder) {
  const std::vector<std::string> ids = {"zeta", "alpha", "mid", "b", "a-1", "omega", "c"};  // Not sorted.
  for (const std::string& id : ids) ASSERT_TRUE(Submit(*store_, id).ok()) << id;

  std::vector<std::string> listed;
  std::vector<size_t> page_sizes;
  JobQuery query;
  query.page_size = 3;
  do {
    absl::StatusOr<JobPage> page = store_->ListJobs(query);
    ASSERT_TRUE(page.ok()) << page.status();
    page_sizes.push_back(page->jobs.size());
    for (const v1::Job& job : page->jobs) listed.push_back(job.name().substr(5));
    query.page_token = page->next_page_token;
  } while (!query.page_token.empty());
  EXPECT_EQ(listed, ids);
  EXPECT_THAT(page_sizes, ElementsAre(3, 3, 1));

  // A page that ends exactly at the last job says so (no empty page after it).
  absl::StatusOr<JobPage> all = store_->ListJobs({nullptr, 7, ""});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->jobs.size(), 7u);
  EXPECT_THAT(all->next_page_token, IsEmpty());
}

TEST_F(CoordinatorStoreTest, ListJobsFiltersAcrossPages) {
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(Submit(*store_, absl::StrCat("j", i)).ok());
  for (const char* id : {"j1", "j2", "j4"}) {
    ASSERT_TRUE(Transition(*store_, id, {v1::JOB_STATE_SCHEDULED, v1::JOB_STATE_RUNNING}).ok());
  }
  JobQuery query;
  query.filter = [](const v1::Job& job) { return job.state() == v1::JOB_STATE_RUNNING; };
  query.page_size = 2;
  absl::StatusOr<JobPage> first = store_->ListJobs(query);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(Names(first->jobs), ElementsAre("jobs/j1", "jobs/j2"));
  ASSERT_FALSE(first->next_page_token.empty());
  query.page_token = first->next_page_token;
  absl::StatusOr<JobPage> second = store_->ListJobs(query);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(Names(second->jobs), ElementsAre("jobs/j4"));
  EXPECT_THAT(second->next_page_token, IsEmpty()) << "j5 does not match: no further page";
}

TEST_F(CoordinatorStoreTest, ListJobsRejectsBadPageSizesAndTokens) {
  ASSERT_TRUE(Submit(*store_, "alpha").ok());
  EXPECT_EQ(store_->ListJobs({nullptr, 0, ""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListJobs({nullptr, -1, ""}).status().code(), absl::StatusCode::kInvalidArgument);
  for (const char* token : {"garbage!", "MTIz", "YWZ0ZXItam9iLy14"}) {  // Not base64; "123"; "after-job/-x".
    absl::StatusOr<JobPage> page = store_->ListJobs({nullptr, 10, token});
    EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument) << token;
  }
}

// --- Updates: the state and its event are one write. ---

TEST_F(CoordinatorStoreTest, TransitionWritesTheStateAndItsEventTogether) {
  ASSERT_TRUE(Submit(*store_, "alpha").ok());
  absl::StatusOr<v1::Job> scheduled = store_->UpdateJob("alpha", [](v1::Job& job, std::vector<v1::JobEvent>& events) {
    events.push_back(StateEvent(job.state(), v1::JOB_STATE_SCHEDULED, "Placed"));
    job.set_state(v1::JOB_STATE_SCHEDULED);
    v1::RankPlacement* placement = job.add_placement();
    placement->set_worker("workers/w-1");
    placement->set_device("cuda:0");
    return absl::OkStatus();
  });
  ASSERT_TRUE(scheduled.ok()) << scheduled.status();
  EXPECT_EQ(scheduled->state(), v1::JOB_STATE_SCHEDULED);
  EXPECT_EQ(scheduled->state_sequence(), 2);
  EXPECT_EQ(scheduled->last_event_sequence(), 2);
  EXPECT_EQ(store_->GetJob("alpha")->placement(0).worker(), "workers/w-1");

  // Events that change no state move last_event_sequence only.
  absl::StatusOr<v1::Job> appended = store_->AppendEvents("alpha", {MetricsEvent(1), LogEvent("loading")});
  ASSERT_TRUE(appended.ok()) << appended.status();
  EXPECT_EQ(appended->state_sequence(), 2);
  EXPECT_EQ(appended->last_event_sequence(), 4);

  // Two state changes in one update: the job ends in the last one, state_sequence points at it.
  ASSERT_TRUE(Transition(*store_, "alpha", {v1::JOB_STATE_RUNNING}).ok());
  absl::StatusOr<v1::Job> replaced =
      Transition(*store_, "alpha", {v1::JOB_STATE_RESTARTING, v1::JOB_STATE_SCHEDULED}, {LogEvent("re-placed")});
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_EQ(replaced->state(), v1::JOB_STATE_SCHEDULED);
  EXPECT_EQ(replaced->restart_count(), 1);
  EXPECT_EQ(replaced->state_sequence(), 7);
  EXPECT_EQ(replaced->last_event_sequence(), 8);

  const std::vector<v1::JobEvent> events = Events("alpha");
  ASSERT_EQ(events.size(), 8u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(events[i].job(), "jobs/alpha");
  }
  EXPECT_EQ(events[4].state_change().to_state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(events[5].state_change().to_state(), v1::JOB_STATE_RESTARTING);
  EXPECT_EQ(events[6].state_change().from_state(), v1::JOB_STATE_RESTARTING);
  EXPECT_EQ(events[7].log().text(), "re-placed");
}

TEST_F(CoordinatorStoreTest, UpdateRefusesAStateWithoutItsEventAndAnEventWithoutItsState) {
  ASSERT_TRUE(Submit(*store_, "alpha").ok());
  const std::string before = store_->GetJob("alpha")->SerializeAsString();
  auto expect_refused = [&](const char* label, const JobMutation& mutate) {
    absl::StatusOr<v1::Job> result = store_->UpdateJob("alpha", mutate);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << label << ": " << result.status();
    EXPECT_EQ(store_->GetJob("alpha")->SerializeAsString(), before) << label;
    EXPECT_EQ(Events("alpha").size(), 1u) << label;
  };
  expect_refused("state without event", [](v1::Job& job, std::vector<v1::JobEvent>&) {
    job.set_state(v1::JOB_STATE_SCHEDULED);
    return absl::OkStatus();
  });
  expect_refused("event without state", [](v1::Job&, std::vector<v1::JobEvent>& events) {
    events.push_back(StateEvent(v1::JOB_STATE_QUEUED, v1::JOB_STATE_SCHEDULED, "Placed"));
    return absl::OkStatus();
  });
  expect_refused("event from the wrong state", [](v1::Job& job, std::vector<v1::JobEvent>& events) {
    events.push_back(StateEvent(v1::JOB_STATE_RUNNING, v1::JOB_STATE_SCHEDULED, "Placed"));
    job.set_state(v1::JOB_STATE_SCHEDULED);
    return absl::OkStatus();
  });
  expect_refused("event to another state", [](v1::Job& job, std::vector<v1::JobEvent>& events) {
    events.push_back(StateEvent(v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, "Placed"));
    job.set_state(v1::JOB_STATE_SCHEDULED);
    return absl::OkStatus();
  });
  expect_refused("event with no payload", [](v1::Job&, std::vector<v1::JobEvent>& events) {
    events.emplace_back();
    return absl::OkStatus();
  });
  expect_refused("rename", [](v1::Job& job, std::vector<v1::JobEvent>& events) {
    job.set_name("jobs/beta");
    events.push_back(LogEvent("renamed"));
    return absl::OkStatus();
  });

  // The mutation's own error aborts the update and comes back as it was.
  absl::StatusOr<v1::Job> aborted = store_->UpdateJob("alpha", [](v1::Job& job, std::vector<v1::JobEvent>& events) {
    job.set_state(v1::JOB_STATE_CANCELLED);
    events.push_back(StateEvent(v1::JOB_STATE_QUEUED, v1::JOB_STATE_CANCELLED, "CancelledByUser"));
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(aborted.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Message(aborted.status()), "changed my mind");
  EXPECT_EQ(store_->GetJob("alpha")->SerializeAsString(), before);
}

TEST_F(CoordinatorStoreTest, StoreOwnsTheSequenceFields) {
  ASSERT_TRUE(Submit(*store_, "alpha").ok());
  absl::StatusOr<v1::Job> updated = store_->UpdateJob("alpha", [](v1::Job& job, std::vector<v1::JobEvent>& events) {
    job.set_last_event_sequence(100);
    job.set_state_sequence(50);
    job.mutable_progress()->set_step(3);
    v1::JobEvent event = MetricsEvent(3);
    event.set_job("jobs/other");
    event.set_sequence(77);
    events.push_back(event);
    return absl::OkStatus();
  });
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->last_event_sequence(), 2);
  EXPECT_EQ(updated->state_sequence(), 1);
  EXPECT_EQ(updated->progress().step(), 3);
  const std::vector<v1::JobEvent> events = Events("alpha");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].job(), "jobs/alpha");
  EXPECT_EQ(events[1].sequence(), 2);

  // A mutation that changes nothing writes nothing and returns the job.
  absl::StatusOr<v1::Job> unchanged =
      store_->UpdateJob("alpha", [](v1::Job&, std::vector<v1::JobEvent>&) { return absl::OkStatus(); });
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->SerializeAsString(), updated->SerializeAsString());
}

// Concurrent read-modify-writes never lose an update: each mutation sees the previous one's result.
TEST_F(CoordinatorStoreTest, ConcurrentUpdatesAreCompareAndSet) {
  ASSERT_TRUE(Submit(*store_, "alpha").ok());
  constexpr int kThreads = 4;
  constexpr int kUpdatesEach = 8;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kUpdatesEach; ++i) {
        absl::StatusOr<v1::Job> updated =
            store_->UpdateJob("alpha", [&](v1::Job& job, std::vector<v1::JobEvent>& events) {
              job.mutable_progress()->set_step(job.progress().step() + 1);
              events.push_back(LogEvent(absl::StrCat("thread ", t, " update ", i)));
              return absl::OkStatus();
            });
        EXPECT_TRUE(updated.ok()) << updated.status();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  absl::StatusOr<v1::Job> job = store_->GetJob("alpha");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->progress().step(), kThreads * kUpdatesEach);
  EXPECT_EQ(job->last_event_sequence(), 1 + kThreads * kUpdatesEach);
  EXPECT_EQ(Events("alpha").size(), static_cast<size_t>(1 + kThreads * kUpdatesEach));
}

TEST_F(CoordinatorStoreTest, ListEventsResumesAfterASequence) {
  ASSERT_TRUE(Submit(*store_, "alpha").ok());
  ASSERT_TRUE(Submit(*store_, "alpha-b").ok());  // "alpha-b/..." sorts before "alpha/...": must not leak in.
  for (int step = 1; step <= 9; ++step) ASSERT_TRUE(store_->AppendEvents("alpha", {MetricsEvent(step)}).ok());

  absl::StatusOr<std::vector<v1::JobEvent>> events = store_->ListEvents("alpha", 3, 4);
  ASSERT_TRUE(events.ok()) << events.status();
  std::vector<int64_t> sequences;
  for (const v1::JobEvent& event : *events) sequences.push_back(event.sequence());
  EXPECT_THAT(sequences, ElementsAre(4, 5, 6, 7));
  EXPECT_EQ((*events)[0].metrics().step(), 3);
  EXPECT_EQ(store_->ListEvents("alpha", 8, 100)->size(), 2u);
  EXPECT_TRUE(store_->ListEvents("alpha", 10, 100)->empty());
  EXPECT_EQ(store_->ListEvents("alpha-b", 0, 100)->size(), 1u);
  EXPECT_EQ(store_->ListEvents("alpha", 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListEvents("alpha", -1, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

// --- Workers, rendezvous, eval results. ---

StoredWorker Worker(const std::string& id, const std::string& host) {
  StoredWorker worker;
  worker.worker_id = id;
  worker.registration.set_host(host);
  worker.registration.set_version("0.1.0");
  v1::GpuDevice* gpu = worker.registration.add_gpus();
  gpu->set_name("NVIDIA H200");
  gpu->set_memory_bytes(int64_t{141} << 30);
  (*worker.registration.mutable_labels())["zone"] = "a";
  return worker;
}

TEST_F(CoordinatorStoreTest, WorkersPutGetListDelete) {
  ASSERT_TRUE(store_->PutWorker(Worker("w-2", "node-b")).ok());
  ASSERT_TRUE(store_->PutWorker(Worker("w-1", "node-a")).ok());
  absl::StatusOr<StoredWorker> got = store_->GetWorker("w-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->worker_id, "w-1");
  EXPECT_EQ(got->registration.host(), "node-a");
  EXPECT_EQ(got->registration.gpus(0).memory_bytes(), int64_t{141} << 30);
  EXPECT_EQ(got->registration.labels().at("zone"), "a");

  ASSERT_TRUE(store_->PutWorker(Worker("w-2", "node-c")).ok());  // Replaces.
  absl::StatusOr<std::vector<StoredWorker>> all = store_->ListWorkers();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].worker_id, "w-1");
  EXPECT_EQ((*all)[1].registration.host(), "node-c");

  ASSERT_TRUE(store_->DeleteWorker("w-1").ok());
  ASSERT_TRUE(store_->DeleteWorker("w-1").ok()) << "deleting an absent worker is OK";
  EXPECT_EQ(store_->GetWorker("w-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListWorkers()->size(), 1u);
  for (const char* bad : {"", "a/b", "a b"}) {
    EXPECT_EQ(store_->PutWorker(Worker(bad, "h")).code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->GetWorker(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(CoordinatorStoreTest, RendezvousKeysAreWriteOnceAndGoAwayWithTheirScope) {
  const std::string binary("id\0\xff", 4);
  ASSERT_TRUE(store_->RendezvousSet("jobs/a/attempts/1", "nccl_unique_id", binary).ok());
  ASSERT_TRUE(store_->RendezvousSet("jobs/a/attempts/1", "rank_0", "10.0.0.1:1234").ok());
  ASSERT_TRUE(store_->RendezvousSet("jobs/a/attempts/10", "rank_0", "10.0.0.2:1234").ok());  // Scope prefix.
  ASSERT_TRUE(store_->RendezvousSet("jobs/a/attempts/1\x01", "rank_0", "x").ok());

  EXPECT_EQ(store_->RendezvousGet("jobs/a/attempts/1", "nccl_unique_id")->value(), binary);
  EXPECT_EQ(*store_->RendezvousGet("jobs/a/attempts/1", "rank_1"), std::nullopt);
  EXPECT_EQ(*store_->RendezvousGet("jobs/a/attempts/2", "rank_0"), std::nullopt);

  EXPECT_TRUE(store_->RendezvousSet("jobs/a/attempts/1", "rank_0", "10.0.0.1:1234").ok()) << "a retry";
  absl::Status changed = store_->RendezvousSet("jobs/a/attempts/1", "rank_0", "10.0.0.9:1");
  EXPECT_EQ(changed.code(), absl::StatusCode::kAlreadyExists) << changed;
  EXPECT_EQ(store_->RendezvousGet("jobs/a/attempts/1", "rank_0")->value(), "10.0.0.1:1234");

  ASSERT_TRUE(store_->RendezvousDeleteScope("jobs/a/attempts/1").ok());
  EXPECT_EQ(*store_->RendezvousGet("jobs/a/attempts/1", "rank_0"), std::nullopt);
  EXPECT_EQ(*store_->RendezvousGet("jobs/a/attempts/1", "nccl_unique_id"), std::nullopt);
  EXPECT_EQ(store_->RendezvousGet("jobs/a/attempts/10", "rank_0")->value(), "10.0.0.2:1234");
  EXPECT_EQ(store_->RendezvousGet("jobs/a/attempts/1\x01", "rank_0")->value(), "x");
  ASSERT_TRUE(store_->RendezvousSet("jobs/a/attempts/1", "rank_0", "10.0.0.9:1").ok()) << "the key is free again";

  EXPECT_EQ(store_->RendezvousSet("", "k", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->RendezvousSet("s", "", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->RendezvousSet(std::string("s\0t", 3), "k", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->RendezvousDeleteScope("").code(), absl::StatusCode::kInvalidArgument);
}

v1::BenchmarkResult Result(const std::string& benchmark, double value) {
  v1::BenchmarkResult result;
  result.mutable_benchmark()->set_path(benchmark);
  v1::MetricValue* metric = result.add_metrics();
  metric->set_metric("acc");
  metric->set_value(value);
  return result;
}

TEST_F(CoordinatorStoreTest, EvalResultsAndTheTransferReportArePerJob) {
  ASSERT_TRUE(store_->PutEvalResult("alpha", "tuned/mmlu", Result("mmlu", 0.5)).ok());
  ASSERT_TRUE(store_->PutEvalResult("alpha", "base/mmlu", Result("mmlu", 0.4)).ok());
  ASSERT_TRUE(store_->PutEvalResult("alpha-b", "base/mmlu", Result("other", 0.1)).ok());
  ASSERT_TRUE(store_->PutEvalResult("alpha", "tuned/mmlu", Result("mmlu", 0.6)).ok());  // Replaces.

  absl::StatusOr<std::vector<NamedEvalResult>> results = store_->ListEvalResults("alpha");
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 2u);
  EXPECT_EQ((*results)[0].name, "base/mmlu");
  EXPECT_EQ((*results)[0].result.metrics(0).value(), 0.4);
  EXPECT_EQ((*results)[1].name, "tuned/mmlu");
  EXPECT_EQ((*results)[1].result.metrics(0).value(), 0.6);
  EXPECT_EQ(store_->ListEvalResults("alpha-b")->size(), 1u);
  EXPECT_TRUE(store_->ListEvalResults("gamma")->empty());

  EXPECT_EQ(store_->GetTransferReport("alpha").status().code(), absl::StatusCode::kNotFound);
  v1::TransferReport report;
  report.set_name("jobs/alpha/transferReport");
  report.set_overall_verdict(v1::VERDICT_IMPROVED);
  ASSERT_TRUE(store_->PutTransferReport("alpha", report).ok());
  EXPECT_EQ(store_->GetTransferReport("alpha")->overall_verdict(), v1::VERDICT_IMPROVED);
  EXPECT_EQ(store_->ListEvalResults("alpha")->size(), 2u) << "the report is not a result";

  for (const char* bad : {"", "a b", "x\n"}) {
    EXPECT_EQ(store_->PutEvalResult("alpha", bad, Result("m", 1)).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(store_->PutEvalResult("Alpha", "n", Result("m", 1)).code(), absl::StatusCode::kInvalidArgument);
}

// --- Checkpoints: one view per job over the shared family. ---

TEST_F(CoordinatorStoreTest, JobsCheckpointsOfTheSameNameDoNotCollide) {
  absl::StatusOr<std::unique_ptr<CheckpointStore>> alpha = store_->Checkpoints("alpha");
  absl::StatusOr<std::unique_ptr<CheckpointStore>> alpha_b = store_->Checkpoints("alpha-b");
  ASSERT_TRUE(alpha.ok() && alpha_b.ok());
  const std::string alpha_bytes = RandomBytes(5000, 1);
  const std::string alpha_b_bytes = RandomBytes(3000, 2);
  ASSERT_TRUE(WriteCheckpoint(**alpha, "step-00000010", alpha_bytes).ok());
  ASSERT_TRUE(WriteCheckpoint(**alpha_b, "step-00000010", alpha_b_bytes).ok());
  ASSERT_TRUE(WriteCheckpoint(**alpha_b, "step-00000020", alpha_b_bytes).ok());

  EXPECT_THAT(*(*alpha)->ListCommitted(), ElementsAre("step-00000010"));
  EXPECT_THAT(*(*alpha_b)->ListCommitted(), ElementsAre("step-00000010", "step-00000020"));
  EXPECT_EQ(ReadCheckpointFiles(**alpha, "step-00000010")->at("weights.bin"), alpha_bytes);
  EXPECT_EQ(ReadCheckpointFiles(**alpha_b, "step-00000010")->at("weights.bin"), alpha_b_bytes);

  // An orphan in one job is that job's only.
  {
    absl::StatusOr<CheckpointWriter> writer = CheckpointWriter::Begin(alpha->get(), "step-00000030", 1024);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->AddFile("weights.bin", RandomBytes(4000, 3)).ok());
  }  // Dropped without Commit.
  EXPECT_EQ(*(*alpha_b)->RemoveOrphans(), 0);
  EXPECT_TRUE((*alpha)->GetChunk("step-00000030", 0).ok()) << "the other job's RemoveOrphans left it alone";
  EXPECT_EQ(*(*alpha)->RemoveOrphans(), 1);
  EXPECT_EQ((*alpha)->GetChunk("step-00000030", 0).status().code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(store_->DeleteJobCheckpoints("alpha").ok());
  EXPECT_TRUE((*alpha)->ListCommitted()->empty());
  EXPECT_EQ(ReadCheckpointFiles(**alpha_b, "step-00000020")->at("weights.bin"), alpha_b_bytes);
  EXPECT_EQ(store_->Checkpoints("Alpha").status().code(), absl::StatusCode::kInvalidArgument);
  alpha->reset();
  alpha_b->reset();

  // On disk every key sits under its job's prefix.
  store_.reset();
  RawDb raw(path_);
  ASSERT_TRUE(raw.ok());
  for (const std::string& key : raw.Keys("checkpoints")) EXPECT_THAT(key, ::testing::StartsWith("jobs/alpha-b/"));
  EXPECT_THAT(raw.Keys("checkpoints"), ::testing::Contains("jobs/alpha-b/step-00000010/m"));
  EXPECT_THAT(raw.Keys("checkpoints"), ::testing::Contains("jobs/alpha-b/step-00000010/c/0000000002"));
}

TEST_F(CoordinatorStoreTest, OpenRemovesOrphanCheckpointsOfEveryJob) {
  for (const char* id : {"alpha", "beta"}) {
    std::unique_ptr<CheckpointStore> view = *store_->Checkpoints(id);
    ASSERT_TRUE(WriteCheckpoint(*view, "step-1", RandomBytes(2000, 4)).ok());
    ASSERT_TRUE(view->PutChunk("step-2", 0, "orphan chunk").ok());
  }
  store_.reset();
  {
    RawDb raw(path_);  // A key no job view wrote is left alone.
    raw.Put("checkpoints", "jobs/stray-key-without-slash", "x");
  }
  Reopen();
  EXPECT_EQ(store_->recovery().orphan_checkpoints_removed, 2);
  EXPECT_EQ(*store_->RemoveAllOrphanCheckpoints(), 0);
  for (const char* id : {"alpha", "beta"}) {
    std::unique_ptr<CheckpointStore> view = *store_->Checkpoints(id);
    EXPECT_THAT(*view->ListCommitted(), ElementsAre("step-1")) << id;
    EXPECT_EQ(view->GetChunk("step-2", 0).status().code(), absl::StatusCode::kNotFound) << id;
    EXPECT_EQ(ReadCheckpointFiles(*view, "step-1")->at("weights.bin"), RandomBytes(2000, 4));
  }
  store_.reset();
  RawDb raw(path_);
  EXPECT_THAT(raw.Keys("checkpoints"), ::testing::Contains("jobs/stray-key-without-slash"));
}

// --- Reopening, recovery, corruption, the lock. ---

TEST_F(CoordinatorStoreTest, ReopenedStoreHasEverythingAndListsUnfinishedJobs) {
  ASSERT_TRUE(Submit(*store_, "done").ok());
  ASSERT_TRUE(Submit(*store_, "running").ok());
  ASSERT_TRUE(Submit(*store_, "queued").ok());
  ASSERT_TRUE(Transition(*store_, "done", {v1::JOB_STATE_CANCELLED}).ok());
  ASSERT_TRUE(Transition(*store_, "running", {v1::JOB_STATE_SCHEDULED, v1::JOB_STATE_RUNNING}).ok());
  ASSERT_TRUE(store_->AppendEvents("running", {MetricsEvent(1)}).ok());
  ASSERT_TRUE(store_->PutWorker(Worker("w-1", "node-a")).ok());
  ASSERT_TRUE(store_->RendezvousSet("jobs/running/attempts/0", "rank_0", "addr").ok());
  ASSERT_TRUE(store_->PutEvalResult("done", "base/mmlu", Result("mmlu", 0.4)).ok());
  ASSERT_TRUE(WriteCheckpoint(**store_->Checkpoints("running"), "step-1", "weights").ok());
  EXPECT_TRUE(store_->recovery().unfinished_jobs.empty());

  Reopen();
  EXPECT_THAT(Names(store_->recovery().unfinished_jobs), ElementsAre("jobs/running", "jobs/queued"));
  EXPECT_EQ(store_->recovery().orphan_checkpoints_removed, 0);
  absl::StatusOr<v1::Job> running = store_->GetJob("running");
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(running->state_sequence(), 3);
  EXPECT_EQ(running->last_event_sequence(), 4);
  EXPECT_EQ(Events("running").size(), 4u);
  EXPECT_EQ(store_->GetJob("done")->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(store_->GetWorker("w-1")->registration.host(), "node-a");
  EXPECT_EQ(store_->RendezvousGet("jobs/running/attempts/0", "rank_0")->value(), "addr");
  EXPECT_EQ(store_->ListEvalResults("done")->size(), 1u);
  EXPECT_EQ(ReadCheckpointFiles(**store_->Checkpoints("running"), "step-1")->at("weights.bin"), "weights");

  // Job numbers continue where they stopped: a new job lists last, an old id stays taken.
  EXPECT_EQ(Submit(*store_, "done").status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(Submit(*store_, "aaa").ok());
  EXPECT_THAT(Names(store_->ListJobs({})->jobs), ElementsAre("jobs/done", "jobs/running", "jobs/queued", "jobs/aaa"));
}

TEST_F(CoordinatorStoreTest, CorruptValuesAreDataLossNamingTheKey) {
  ASSERT_TRUE(Submit(*store_, "alpha").ok());
  ASSERT_TRUE(Submit(*store_, "beta").ok());
  ASSERT_TRUE(store_->PutWorker(Worker("w-1", "node-a")).ok());
  store_.reset();
  const std::string garbage = "\xff\xff\xff\xff not a protobuf";
  {
    RawDb raw(path_);
    ASSERT_TRUE(raw.ok());
    raw.Put("events", "beta/000000000001", garbage);
    raw.Put("workers", "w-1", garbage);
    raw.Put("eval_results", "beta/r/base", garbage);
  }
  Reopen();
  absl::StatusOr<std::vector<v1::JobEvent>> events = store_->ListEvents("beta", 0, 10);
  EXPECT_EQ(events.status().code(), absl::StatusCode::kDataLoss) << events.status();
  EXPECT_THAT(Message(events.status()), HasSubstr("events key \"beta/000000000001\""));
  EXPECT_THAT(Message(events.status()), HasSubstr("ftd.v1.JobEvent"));
  absl::StatusOr<StoredWorker> worker = store_->GetWorker("w-1");
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(worker.status()), HasSubstr("workers key \"w-1\""));
  EXPECT_EQ(store_->ListWorkers().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->ListEvalResults("beta").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(store_->GetJob("alpha").ok());

  // A job the coordinator cannot read stops it from starting on half its state.
  store_.reset();
  {
    RawDb raw(path_);
    raw.Put("jobs", "job/000000000002", garbage);
  }
  absl::StatusOr<std::unique_ptr<CoordinatorStore>> reopened = CoordinatorStore::Open(path_);
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss) << reopened.status();
  EXPECT_THAT(Message(reopened.status()), HasSubstr("jobs key \"job/000000000002\""));
}

TEST_F(CoordinatorStoreTest, OneProcessAtATimeAndOneFormat) {
  absl::StatusOr<std::unique_ptr<CoordinatorStore>> second = CoordinatorStore::Open(path_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_THAT(Message(second.status()), HasSubstr(path_));
  EXPECT_EQ(CoordinatorStore::Open("").status().code(), absl::StatusCode::kInvalidArgument);

  store_.reset();
  {
    RawDb raw(path_);
    EXPECT_THAT(raw.family_names(), ::testing::UnorderedElementsAre("default", "jobs", "events", "workers",
                                                                     "checkpoints", "eval_results", "rendezvous"));
    raw.Put("default", "format", "ftd-coordinator-store/999");
  }
  absl::StatusOr<std::unique_ptr<CoordinatorStore>> other_format = CoordinatorStore::Open(path_);
  EXPECT_EQ(other_format.status().code(), absl::StatusCode::kFailedPrecondition) << other_format.status();
  EXPECT_THAT(Message(other_format.status()), HasSubstr("ftd-coordinator-store/999"));
}

}  // namespace
}  // namespace ftd
