// A coordinator killed at any instant restarts with nothing lost (DESIGN.md, Storage): a writer process (this test
// binary, re-executed) creates jobs, moves them through the lifecycle, appends events and writes checkpoints, and
// reports every call that returned through a pipe; the parent SIGKILLs it after a random number of DB writes, reopens
// the store and checks it, four rounds over one DB. The parent never has the DB open while a writer runs.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/checkpoint/checkpoint_io.h"
#include "coordinator/store/coordinator_store.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_store_testing.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

extern char** environ;

namespace ftd {
namespace {

constexpr char kDbEnv[] = "FTD_STORE_CRASH_DB";
constexpr char kAckFdEnv[] = "FTD_STORE_CRASH_ACK_FD";
constexpr char kSeedEnv[] = "FTD_STORE_CRASH_SEED";
constexpr char kRoundEnv[] = "FTD_STORE_CRASH_ROUND";
constexpr char kWriterTest[] = "CoordinatorStoreCrashWriter.DISABLED_Run";
constexpr int kRounds = 4;

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED || state == v1::JOB_STATE_CANCELLED ||
         state == v1::JOB_STATE_EARLY_STOPPED;
}

std::string CheckpointBytes(const std::string& job_id, const std::string& name) {
  return RandomBytes(6000, std::hash<std::string>{}(absl::StrCat(job_id, "/", name)));  // 6 chunks of 1 KiB.
}

// --- The writer: runs in the child only. ---

[[noreturn]] void Die(int exit_code, const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "writer: %s: %s\n", what.c_str(), status.ToString().c_str());
  std::fflush(stderr);
  _exit(exit_code);
}

// One line per acknowledged call, in one write(2) (under PIPE_BUF, so a kill never splits a line):
// "J <job> <last_event_sequence> <state>" after CreateJob or UpdateJob returned, "K <job> <checkpoint>" after a
// checkpoint's manifest was committed.
void Ack(int fd, const std::string& line) {
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(20);
}

// The next step of the lifecycle from `state`, at random where it forks; empty when the job has ended.
std::vector<v1::JobState> NextStates(v1::JobState state, std::mt19937_64& random) {
  switch (state) {
    case v1::JOB_STATE_QUEUED:
    case v1::JOB_STATE_RESTARTING:
      return {v1::JOB_STATE_SCHEDULED};
    case v1::JOB_STATE_SCHEDULED:
      return {v1::JOB_STATE_RUNNING};
    case v1::JOB_STATE_RUNNING:
      switch (random() % 8) {
        case 0:
          return {v1::JOB_STATE_RESTARTING};
        case 1:
          return {v1::JOB_STATE_RESTARTING, v1::JOB_STATE_SCHEDULED};  // Two state changes in one batch.
        case 2:
          return {v1::JOB_STATE_FAILED};
        case 3:
          return {v1::JOB_STATE_CANCELLED};
        default:
          return {v1::JOB_STATE_EVALUATING};
      }
    case v1::JOB_STATE_EVALUATING:
      return {v1::JOB_STATE_SUCCEEDED};
    default:
      return {};
  }
}

int RunWriter(const std::string& path, int ack_fd, uint64_t seed, int round) {
  ::alarm(30);  // Never outlive a parent that failed before killing this process.
  absl::StatusOr<std::unique_ptr<CoordinatorStore>> opened = CoordinatorStore::Open(path);
  if (!opened.ok()) Die(2, "open", opened.status());
  CoordinatorStore& store = **opened;
  std::vector<std::string> live;
  for (const v1::Job& job : store.recovery().unfinished_jobs) live.push_back(job.name().substr(5));
  std::mt19937_64 random(seed);
  int created = 0;
  int checkpoints = 0;
  for (int op = 0; op < 100000; ++op) {
    const int dice = static_cast<int>(random() % 20);
    if (live.empty() || dice < 5) {
      const std::string id = absl::StrCat("r", round, "-j", created++);
      absl::StatusOr<v1::Job> job = Submit(store, id);
      if (!job.ok()) Die(3, "create " + id, job.status());
      live.push_back(id);
      Ack(ack_fd, absl::StrCat("J ", id, " ", job->last_event_sequence(), " ", job->state(), "\n"));
      continue;
    }
    const size_t index = random() % live.size();
    const std::string id = live[index];
    if (dice < 15) {
      absl::StatusOr<v1::Job> current = store.GetJob(id);
      if (!current.ok()) Die(4, "get " + id, current.status());
      std::vector<v1::JobEvent> extra;
      if (random() % 2 == 0) extra.push_back(LogEvent("moving on"));
      absl::StatusOr<v1::Job> job = Transition(store, id, NextStates(current->state(), random), std::move(extra));
      if (!job.ok()) Die(5, "transition " + id, job.status());
      if (IsTerminal(job->state())) live.erase(live.begin() + static_cast<std::ptrdiff_t>(index));
      Ack(ack_fd, absl::StrCat("J ", id, " ", job->last_event_sequence(), " ", job->state(), "\n"));
    } else if (dice < 18) {
      std::vector<v1::JobEvent> events;
      for (int i = 0; i <= static_cast<int>(random() % 3); ++i) events.push_back(MetricsEvent(op));
      absl::StatusOr<v1::Job> job = store.AppendEvents(id, std::move(events));
      if (!job.ok()) Die(6, "append to " + id, job.status());
      Ack(ack_fd, absl::StrCat("J ", id, " ", job->last_event_sequence(), " ", job->state(), "\n"));
    } else {
      const std::string name = absl::StrCat("step-", round, "-", checkpoints++);
      absl::StatusOr<std::unique_ptr<CheckpointStore>> view = store.Checkpoints(id);
      if (!view.ok()) Die(7, "checkpoints of " + id, view.status());
      const absl::Status written = WriteCheckpoint(**view, name, CheckpointBytes(id, name));
      if (!written.ok()) Die(8, "checkpoint " + name + " of " + id, written);
      Ack(ack_fd, absl::StrCat("K ", id, " ", name, "\n"));
    }
  }
  return 0;  // The parent was to kill this process long before: exiting fails the test.
}

// Disabled, so only the crash test's child runs it (with --gtest_also_run_disabled_tests and its environment).
TEST(CoordinatorStoreCrashWriter, DISABLED_Run) {
  const char* path = std::getenv(kDbEnv);
  if (path == nullptr) GTEST_SKIP() << "the writer of CoordinatorStoreCrashTest; runs only as its child process";
  auto env = [](const char* name) -> absl::string_view {
    const char* value = std::getenv(name);
    return value == nullptr ? "" : value;
  };
  int ack_fd = -1;
  uint64_t seed = 0;
  int round = 0;
  if (!absl::SimpleAtoi(env(kAckFdEnv), &ack_fd) || !absl::SimpleAtoi(env(kSeedEnv), &seed) ||
      !absl::SimpleAtoi(env(kRoundEnv), &round)) {
    _exit(9);
  }
  _exit(RunWriter(path, ack_fd, seed, round));
}

// --- The parent. ---

// Re-executes this binary as the writer, its stdout and stderr in `log`. Everything is built before fork: between
// fork and execve the child makes async-signal-safe calls only (the parent may hold RocksDB threads).
pid_t SpawnWriter(const std::string& path, int ack_fd, uint64_t seed, int round, const std::string& log) {
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return -1;
  exe[n] = '\0';
  const std::vector<std::string> args = {exe, absl::StrCat("--gtest_filter=", kWriterTest),
                                         "--gtest_also_run_disabled_tests"};
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "FTD_STORE_CRASH_")) env.emplace_back(*e);
  }
  env.push_back(absl::StrCat(kDbEnv, "=", path));
  env.push_back(absl::StrCat(kAckFdEnv, "=", ack_fd));
  env.push_back(absl::StrCat(kSeedEnv, "=", seed));
  env.push_back(absl::StrCat(kRoundEnv, "=", round));
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const char* log_path = log.c_str();

  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  const int out = ::open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) _exit(126);
  ::execve(argv[0], argv.data(), envp.data());
  _exit(127);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct AckedJob {
  int64_t last_event_sequence = 0;
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
};

// What the parent knows must be in the store.
struct Model {
  std::map<std::string, AckedJob> jobs;
  std::vector<std::string> creation_order;
  std::set<std::pair<std::string, std::string>> checkpoints;  // (job, checkpoint)
};

// The events of `job` must be 1..last_event_sequence with no gap, start with UNSPECIFIED -> QUEUED, chain their
// state changes, and end in the job's state at state_sequence. Returns the state after each sequence number.
std::vector<v1::JobState> CheckJobAgainstItsEvents(CoordinatorStore& store, const v1::Job& job) {
  const std::string id = job.name().substr(5);
  absl::StatusOr<std::vector<v1::JobEvent>> events = store.ListEvents(id, 0, 1 << 20);
  EXPECT_TRUE(events.ok()) << id << ": " << events.status();
  std::vector<v1::JobState> states = {v1::JOB_STATE_UNSPECIFIED};  // states[s]: the state after event s.
  if (!events.ok()) return states;
  EXPECT_EQ(static_cast<int64_t>(events->size()), job.last_event_sequence()) << id;
  int64_t state_sequence = 0;
  for (size_t i = 0; i < events->size(); ++i) {
    const v1::JobEvent& event = (*events)[i];
    EXPECT_EQ(event.sequence(), static_cast<int64_t>(i + 1)) << id << ": a gap in the sequence numbers";
    EXPECT_EQ(event.job(), job.name());
    v1::JobState state = states.back();
    if (event.has_state_change()) {
      EXPECT_EQ(event.state_change().from_state(), state) << id << " event " << event.sequence();
      state = event.state_change().to_state();
      state_sequence = event.sequence();
    }
    states.push_back(state);
  }
  EXPECT_GE(states.size(), 2u) << id << " has no Submitted event";
  if (states.size() >= 2) {
    EXPECT_EQ(states[1], v1::JOB_STATE_QUEUED) << id;
  }
  EXPECT_EQ(states.back(), job.state()) << id << ": the job's state is not its last StateChange's";
  EXPECT_EQ(state_sequence, job.state_sequence()) << id;
  return states;
}

// Checks the reopened store against the acknowledgements of one round, then makes the model the store's state.
// `landed_unacknowledged`: how many jobs the call in flight at the kill had changed (0 or 1).
void CheckAndAdopt(CoordinatorStore& store, const Model& before, const std::vector<std::string>& acks, Model& model,
                   int& landed_unacknowledged) {
  Model acked = before;
  for (const std::string& line : acks) {
    const std::vector<std::string> fields = absl::StrSplit(line, ' ');
    ASSERT_EQ(fields.size(), fields[0] == "J" ? 4u : 3u) << line;
    if (fields[0] == "K") {
      acked.checkpoints.insert({fields[1], fields[2]});
      continue;
    }
    AckedJob job;
    int state = 0;
    ASSERT_TRUE(absl::SimpleAtoi(fields[2], &job.last_event_sequence) && absl::SimpleAtoi(fields[3], &state)) << line;
    job.state = static_cast<v1::JobState>(state);
    if (acked.jobs.count(fields[1]) == 0) acked.creation_order.push_back(fields[1]);
    EXPECT_GT(job.last_event_sequence, acked.jobs[fields[1]].last_event_sequence) << line;
    acked.jobs[fields[1]] = job;
  }

  std::vector<v1::Job> stored;
  JobQuery query;
  query.page_size = 5;
  do {
    absl::StatusOr<JobPage> page = store.ListJobs(query);
    ASSERT_TRUE(page.ok()) << page.status();
    stored.insert(stored.end(), page->jobs.begin(), page->jobs.end());
    query.page_token = page->next_page_token;
  } while (!query.page_token.empty());

  // At most one call was in flight at the kill: it may or may not have landed; nothing else may differ.
  int unacknowledged = 0;
  std::vector<std::string> order;
  std::vector<std::string> unfinished;
  for (const v1::Job& job : stored) {
    const std::string id = job.name().substr(5);
    const std::vector<v1::JobState> states = CheckJobAgainstItsEvents(store, job);
    order.push_back(id);
    if (!IsTerminal(job.state())) unfinished.push_back(job.name());
    const auto it = acked.jobs.find(id);
    if (it == acked.jobs.end()) {
      ++unacknowledged;  // Created by the call in flight.
      EXPECT_EQ(id, stored.back().name().substr(5)) << "an unacknowledged job must be the newest";
      continue;
    }
    const AckedJob& want = it->second;
    ASSERT_GE(job.last_event_sequence(), want.last_event_sequence) << id << ": acknowledged events were lost";
    ASSERT_LT(want.last_event_sequence, static_cast<int64_t>(states.size())) << id;
    EXPECT_EQ(states[want.last_event_sequence], want.state) << id << ": state at acknowledged event";
    if (job.last_event_sequence() > want.last_event_sequence) ++unacknowledged;
  }
  EXPECT_LE(unacknowledged, 1) << "more than the one call in flight changed the store";
  landed_unacknowledged = unacknowledged;
  std::vector<std::string> acked_order;
  for (const std::string& id : order) {
    if (acked.jobs.count(id) > 0) acked_order.push_back(id);
  }
  EXPECT_EQ(acked_order, acked.creation_order) << "jobs are listed in creation order";
  for (const auto& entry : acked.jobs) {
    EXPECT_EQ(std::count(order.begin(), order.end(), entry.first), 1) << entry.first << " is listed once";
  }

  std::vector<std::string> recovered;
  for (const v1::Job& job : store.recovery().unfinished_jobs) recovered.push_back(job.name());
  EXPECT_EQ(recovered, unfinished);
  EXPECT_LE(store.recovery().orphan_checkpoints_removed, 1);

  for (const auto& [id, name] : acked.checkpoints) {
    absl::StatusOr<std::unique_ptr<CheckpointStore>> view = store.Checkpoints(id);
    ASSERT_TRUE(view.ok());
    absl::StatusOr<std::map<std::string, std::string>> files = ReadCheckpointFiles(**view, name);
    ASSERT_TRUE(files.ok()) << id << "/" << name << ": " << files.status();
    EXPECT_EQ(files->at("weights.bin"), CheckpointBytes(id, name)) << id << "/" << name;
  }
  for (const std::string& id : order) {
    EXPECT_EQ(*(*store.Checkpoints(id))->RemoveOrphans(), 0) << id << ": Open left an orphan";
  }

  model = Model();
  model.creation_order = order;
  for (const v1::Job& job : stored) {
    model.jobs[job.name().substr(5)] = {job.last_event_sequence(), job.state()};
  }
  model.checkpoints = acked.checkpoints;
}

// One round: runs the writer until the kill, returning what it acknowledged. The kill is timed by the DB's own
// writes, not by a clock: an inotify watch on the DB directory sees each write(2) to the WAL (and RocksDB's other
// files), and the writer dies right after the `kill_after_writes`-th, in the middle of whatever call made it:
// between two chunks of a checkpoint, before a batch's fsync returned, before its acknowledgement went out.
struct Round {
  bool killed = false;
  int exit_code = 0;
  std::string acks;  // Every line the writer wrote, killed or not.
};

void RunWriterUntilKilled(const std::string& path, uint64_t seed, int round, int kill_after_writes,
                          const std::string& log, Round& result) {
  const int watch = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  ASSERT_GE(watch, 0) << std::strerror(errno);
  ASSERT_GE(::inotify_add_watch(watch, path.c_str(), IN_MODIFY), 0) << path << ": " << std::strerror(errno);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ASSERT_EQ(::fcntl(pipe_fds[0], F_SETFD, FD_CLOEXEC), 0);  // Only the write end goes to the writer.
  const pid_t writer = SpawnWriter(path, pipe_fds[1], seed, round, log);
  ::close(pipe_fds[1]);
  ASSERT_GT(writer, 0);

  int writes_seen = 0;
  char buffer[8192] __attribute__((aligned(alignof(struct inotify_event))));
  for (;;) {
    pollfd fds[2] = {{pipe_fds[0], POLLIN, 0}, {watch, POLLIN, 0}};
    // No timeout: the writer's alarm(30) ends it if the kill never comes, and EOF ends this loop.
    if (::poll(fds, result.killed ? 1 : 2, -1) < 0) {
      ASSERT_EQ(errno, EINTR) << std::strerror(errno);
      continue;
    }
    if (!result.killed && (fds[1].revents & POLLIN) != 0) {
      const ssize_t n = ::read(watch, buffer, sizeof(buffer));
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const struct inotify_event*>(buffer + at);
        at += static_cast<ssize_t>(sizeof(struct inotify_event) + event->len);
        ++writes_seen;
      }
      if (writes_seen >= kill_after_writes) {
        ASSERT_EQ(::kill(writer, SIGKILL), 0);
        result.killed = true;
      }
    }
    if ((fds[0].revents & (POLLIN | POLLHUP)) != 0) {
      const ssize_t n = ::read(pipe_fds[0], buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EOF: the writer is gone.
      result.acks.append(buffer, static_cast<size_t>(n));
    }
  }
  ::close(pipe_fds[0]);
  ::close(watch);
  result.exit_code = ExitCode(writer);
}

TEST(CoordinatorStoreCrashTest, KilledWriterLosesNothingAndNeverSplitsAStateFromItsEvent) {
  TempDir temp;
  const std::string path = temp.file("db");
  ASSERT_TRUE(std::filesystem::create_directory(path));  // For the inotify watch; RocksDB creates the DB inside.
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  std::mt19937_64 random(seed);
  Model model;
  int total_acks = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const std::string log = temp.file(absl::StrCat("writer-", round, ".log"));
    const int kill_after_writes = 60 + static_cast<int>(random() % 140);
    Round result;
    RunWriterUntilKilled(path, random(), round, kill_after_writes, log, result);
    if (HasFatalFailure()) return;
    ASSERT_TRUE(result.killed) << "the writer stopped by itself (exit code " << result.exit_code << "):\n"
                               << ReadFile(log);
    ASSERT_EQ(result.exit_code, -1) << ReadFile(log);
    ASSERT_TRUE(result.acks.empty() || result.acks.back() == '\n') << "a torn acknowledgement";

    const std::vector<std::string> acks = absl::StrSplit(result.acks, '\n', absl::SkipEmpty());
    total_acks += static_cast<int>(acks.size());
    absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    const Model before = model;
    int landed_unacknowledged = 0;
    CheckAndAdopt(**store, before, acks, model, landed_unacknowledged);
    if (HasFatalFailure()) return;
    int64_t events = 0;
    for (const auto& entry : model.jobs) events += entry.second.last_event_sequence;
    std::printf("round %d: killed after %d DB writes and %zu acknowledged calls (%s); the store holds %zu jobs, "
                "%lld events, %zu acknowledged checkpoints; reopening removed %lld orphan checkpoint(s)\n",
                round, kill_after_writes, acks.size(),
                landed_unacknowledged > 0 ? "the call in flight had landed" : "no unacknowledged call landed",
                model.jobs.size(), static_cast<long long>(events), model.checkpoints.size(),
                static_cast<long long>((*store)->recovery().orphan_checkpoints_removed));
  }
  EXPECT_GE(total_acks, 30);

  // The store takes new work after the crashes: the next job is listed last.
  absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE(Submit(**store, "after-the-crashes").ok());
  JobQuery query;
  query.page_size = 1000;
  absl::StatusOr<JobPage> page = (*store)->ListJobs(query);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->jobs.back().name(), "jobs/after-the-crashes");
  EXPECT_EQ(page->jobs.size(), model.jobs.size() + 1);
}

}  // namespace
}  // namespace ftd
