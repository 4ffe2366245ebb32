// The coordinator under load (issue 6): a real `ftd` process, N fake workers over gRPC that play every rank at
// once (STARTING, the final result, DONE), and client threads that submit jobs as fast as they can. Prints the
// submit rate and latency, the scheduling latency (RunRank at the worker minus SubmitJob's return), the end-to-end
// time, and after a SIGTERM and restart on the same data dir a listing of every job with a `#wrong` count
// (nccl-tests style: jobs missing, duplicated or not SUCCEEDED; nonzero exits 1). Asserts nothing on time.
//
//   build/bench/coordinator --ftd build/coordinator/app/ftd [--jobs 1000] [--clients 8] [--workers 16]
//                           [--data-dir DIR] [--model DIR] [--keep]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "CLI/CLI.hpp"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "ftd/v1/job_service.grpc.pb.h"
#include "ftd/v1/worker_service.grpc.pb.h"

namespace ftd {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string ftd;
  int jobs = 1000;
  int clients = 8;
  int workers = 16;
  std::string data_dir;  // ftd's --data-dir; empty: <work dir>/ftd.
  std::string model;     // base_model of every job.
  bool keep = false;     // Keep the work dir (ftd's logs and, by default, its data dir).
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Nearest-rank percentile of `v` (sorted in place); 0 for an empty vector.
double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // Its own connection, as a separate process would have.
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> Context(std::chrono::seconds timeout = std::chrono::seconds(30)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

// --- The ftd process ---

// One `ftd` child: stdout and stderr go to `log`; the gRPC address is read from its "serving gRPC on" line
// (both ports are 0, so the kernel picks free ones and no port can be taken between choosing and binding).
class FtdProcess {
 public:
  static std::optional<FtdProcess> Start(const std::string& binary, const std::string& data_dir,
                                         const std::string& log) {
    const pid_t pid = fork();
    if (pid < 0) return std::nullopt;
    if (pid == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) _exit(127);
      dup2(fd, 1);
      dup2(fd, 2);
      execl(binary.c_str(), binary.c_str(), "--data-dir", data_dir.c_str(), "--listen", "127.0.0.1:0",
            "--http-listen", "127.0.0.1:0", "--lease-seconds", "30", static_cast<char*>(nullptr));
      _exit(127);
    }
    FtdProcess process;
    process.pid_ = pid;
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      std::ifstream in(log);
      std::string line;
      while (std::getline(in, line)) {
        const std::string grpc_prefix = "ftd: serving gRPC on ", http_prefix = "ftd: serving HTTP on ";
        if (line.rfind(grpc_prefix, 0) == 0) process.address_ = line.substr(grpc_prefix.size());
        if (line.rfind(http_prefix, 0) == 0) process.http_address_ = line.substr(http_prefix.size());
      }
      if (!process.address_.empty() && !process.http_address_.empty()) break;
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        std::fprintf(stderr, "coordinator: ftd exited before serving (status %d); see %s\n", status, log.c_str());
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (process.address_.empty()) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      std::fprintf(stderr, "coordinator: ftd did not serve within 60 s; see %s\n", log.c_str());
      return std::nullopt;
    }
    // Serving: the port is bound and the services registered before the line is printed; wait for a connection.
    if (!NewChannel(process.address_)
             ->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
      std::fprintf(stderr, "coordinator: cannot connect to ftd at %s\n", process.address_.c_str());
      process.Kill();
      return std::nullopt;
    }
    return process;
  }

  // SIGTERM and wait for the exit; its exit code (-1 if it was killed by a signal).
  int Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

  const std::string& address() const { return address_; }
  const std::string& http_address() const { return http_address_; }

 private:
  pid_t pid_ = 0;
  std::string address_;
  std::string http_address_;
};

// GET http://address/metrics (HTTP/1.0, so the server closes after the body); empty on any error.
std::string ScrapeMetrics(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return "";
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(static_cast<uint16_t>(std::atoi(address.c_str() + colon + 1)));
  if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &peer.sin_addr) != 1) return "";
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  std::string page;
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: " + address + "\r\n\r\n";
  if (connect(fd, reinterpret_cast<const sockaddr*>(&peer), sizeof(peer)) == 0 &&
      write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) page.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return page;
}

// The value of the first sample line starting with `name` + ' ' in a Prometheus text page; NaN when absent.
double MetricValue(const std::string& page, const std::string& name) {
  std::istringstream in(page);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::strtod(line.c_str() + name.size() + 1, nullptr);
  }
  return std::nan("");
}

// --- Fake workers ---

// What the fake workers saw, shared by all of them.
struct WorkerLog {
  std::mutex mu;
  std::condition_variable done_cv;
  std::map<std::string, Clock::time_point> run_rank_at;  // job -> first RunRank arrival.
  std::vector<double> idle_gap_ms;  // A worker's DONE acknowledged -> its next RunRank.
  int done = 0;                     // DONE reports the coordinator accepted.
  int errors = 0;
  std::string first_error;

  void Error(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    if (errors++ == 0) first_error = what;
    std::fprintf(stderr, "coordinator: worker: %s\n", what.c_str());
  }
};

// One fake CPU worker: registers, then its thread reads WatchAssignments and plays each RunRank to the end at
// once (STARTING, the final result upload, DONE); the bench's heartbeat thread renews its lease. Stop() cancels
// the stream and joins.
class FakeWorker {
 public:
  FakeWorker(const std::string& address, int index, WorkerLog& log)
      : channel_(NewChannel(address)), stub_(v1::WorkerService::NewStub(channel_)), index_(index), log_(log) {}

  bool Register() {
    v1::RegisterWorkerRequest request;
    request.set_host("bench-host");
    request.set_instance("bench-worker-" + std::to_string(index_));
    request.mutable_cpu()->set_cores(1);
    request.mutable_cpu()->set_memory_bytes(int64_t{8} << 30);
    request.set_version(FTD_VERSION);
    v1::RegisterWorkerResponse response;
    const grpc::Status status = stub_->RegisterWorker(Context().get(), request, &response);
    if (!status.ok()) {
      log_.Error("RegisterWorker: " + status.error_message());
      return false;
    }
    name_ = response.worker();
    return true;
  }

  void StartWatching() { thread_ = std::thread([this] { Watch(); }); }

  void Heartbeat() {
    v1::HeartbeatRequest request;
    request.set_worker(name_);
    v1::HeartbeatResponse response;
    const grpc::Status status = stub_->Heartbeat(Context().get(), request, &response);
    if (!status.ok() || !response.lease_valid()) log_.Error("Heartbeat of " + name_ + ": " + status.error_message());
  }

  void Stop() {
    stopping_ = true;
    {
      std::lock_guard<std::mutex> lock(context_mu_);
      if (watch_context_ != nullptr) watch_context_->TryCancel();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Watch() {
    {
      std::lock_guard<std::mutex> lock(context_mu_);
      watch_context_ = std::make_unique<grpc::ClientContext>();
    }
    v1::WatchAssignmentsRequest request;
    request.set_worker(name_);
    std::unique_ptr<grpc::ClientReader<v1::WorkerCommand>> reader =
        stub_->WatchAssignments(watch_context_.get(), request);
    v1::WorkerCommand command;
    Clock::time_point last_done{};  // Of the previous rank; unset (epoch) before the first or after a failure.
    while (reader->Read(&command)) {
      if (!command.has_run_rank()) continue;
      const Clock::time_point arrived = Clock::now();
      const v1::RunRank& run = command.run_rank();
      if (!played_.insert({run.job(), run.attempt(), run.rank()}).second) continue;  // A replay: a no-op.
      {
        std::lock_guard<std::mutex> lock(log_.mu);
        log_.run_rank_at.emplace(run.job(), arrived);
        if (last_done != Clock::time_point{}) log_.idle_gap_ms.push_back(Ms(arrived - last_done));
      }
      if (Play(run)) {
        last_done = Clock::now();
        std::lock_guard<std::mutex> lock(log_.mu);
        ++log_.done;
        log_.done_cv.notify_all();
      } else {
        last_done = Clock::time_point{};
      }
    }
    const grpc::Status status = reader->Finish();
    if (!stopping_) log_.Error("WatchAssignments of " + name_ + " ended: " + status.error_message());
  }

  bool Report(const v1::RunRank& run, int64_t batch, v1::RankState state) {
    v1::ReportMetricsRequest request;
    request.set_worker(name_);
    request.set_job(run.job());
    request.set_attempt(run.attempt());
    request.set_rank(run.rank());
    request.set_batch_sequence(batch);
    v1::RankStatus& status = *request.mutable_status();
    status.set_job(run.job());
    status.set_attempt(run.attempt());
    status.set_rank(run.rank());
    status.set_state(state);
    status.set_step(state == v1::RANK_STATE_DONE ? 1 : 0);
    v1::ReportMetricsResponse response;
    const grpc::Status result = stub_->ReportMetrics(Context().get(), request, &response);
    if (!result.ok()) log_.Error("ReportMetrics " + v1::RankState_Name(state) + " of " + run.job() + ": " +
                                 result.error_message());
    return result.ok();
  }

  // Rank 0's final result: one small result.json in one chunk.
  bool UploadResult(const v1::RunRank& run) {
    const std::string bytes = "{\"job\": \"" + run.job() + "\", \"bench\": \"coordinator\"}\n";
    v1::PutCheckpointRequest first;
    v1::PutCheckpointHeader& header = *first.mutable_header();
    header.set_job(run.job());
    header.set_attempt(run.attempt());
    header.set_rank(0);
    header.set_final_result(true);
    v1::Checkpoint& checkpoint = *header.mutable_checkpoint();
    checkpoint.set_step(1);
    checkpoint.set_kind(v1::CHECKPOINT_KIND_ADAPTER);
    checkpoint.set_size_bytes(static_cast<int64_t>(bytes.size()));
    v1::FileEntry& file = *checkpoint.add_files();
    file.set_path("result.json");
    file.set_size_bytes(static_cast<int64_t>(bytes.size()));
    file.set_sha256(Sha256Hex(bytes));
    v1::PutCheckpointRequest second;
    v1::DataChunk& chunk = *second.mutable_chunk();
    chunk.set_file_index(0);
    chunk.set_offset(0);
    chunk.set_data(bytes);
    chunk.set_crc32c(Crc32c(bytes));
    const auto context = Context();
    v1::Checkpoint stored;
    std::unique_ptr<grpc::ClientWriter<v1::PutCheckpointRequest>> writer = stub_->PutCheckpoint(context.get(), &stored);
    if (writer->Write(first)) writer->Write(second);
    writer->WritesDone();
    const grpc::Status status = writer->Finish();
    if (!status.ok()) log_.Error("PutCheckpoint of " + run.job() + ": " + status.error_message());
    return status.ok();
  }

  bool Play(const v1::RunRank& run) {
    if (!Report(run, 1, v1::RANK_STATE_STARTING)) return false;
    if (run.rank() == 0 && !UploadResult(run)) return false;
    return Report(run, 2, v1::RANK_STATE_DONE);
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  const int index_;
  WorkerLog& log_;
  std::string name_;
  std::atomic<bool> stopping_{false};
  std::mutex context_mu_;
  std::unique_ptr<grpc::ClientContext> watch_context_;
  std::set<std::tuple<std::string, int32_t, int32_t>> played_;  // Watch thread only.
  std::thread thread_;
};

// --- Clients ---

struct Submitted {
  std::string name;  // "jobs/{job}"; empty when the submit failed.
  std::string spec_name;
  Clock::time_point returned;
  double latency_ms = 0;
};

v1::JobSpec BenchSpec(const Options& o, const std::string& dataset, int i) {
  char name[32];
  std::snprintf(name, sizeof(name), "bench-%06d", i);
  v1::JobSpec spec;
  spec.set_name(name);
  spec.set_base_model(o.model);
  spec.set_method(v1::METHOD_LORA);
  spec.add_datasets()->set_path(dataset);
  spec.set_world_size(1);
  spec.set_device(v1::DEVICE_CPU);
  spec.set_max_steps(1);
  return spec;
}

// Client `c` of `o.clients` submits jobs c, c + clients, ... into `out` (one slot per job, written by one thread).
void SubmitLoop(const Options& o, const std::string& address, const std::string& dataset, const std::string& run_id,
                int c, std::vector<Submitted>& out, std::atomic<int>& failures) {
  std::unique_ptr<v1::JobService::Stub> stub = v1::JobService::NewStub(NewChannel(address));
  for (int i = c; i < o.jobs; i += o.clients) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = BenchSpec(o, dataset, i);
    request.set_request_id(run_id + "-" + std::to_string(i));
    Submitted& s = out[static_cast<size_t>(i)];
    s.spec_name = request.spec().name();
    const Clock::time_point start = Clock::now();
    v1::Job job;
    grpc::Status status;
    for (int attempt = 0; attempt < 3; ++attempt) {  // UNAVAILABLE: retry with the same request_id.
      status = stub->SubmitJob(Context().get(), request, &job);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    }
    s.returned = Clock::now();
    s.latency_ms = Ms(s.returned - start);
    if (status.ok()) {
      s.name = job.name();
    } else {
      if (failures++ == 0) std::fprintf(stderr, "coordinator: SubmitJob %d: %s\n", i, status.error_message().c_str());
    }
  }
}

// Every job, page by page (page_size 100, oldest first). Sets `ok` false on an RPC error (and never true).
std::vector<v1::Job> ListAll(const std::string& address, const std::string& filter, bool& ok) {
  std::unique_ptr<v1::JobService::Stub> stub = v1::JobService::NewStub(NewChannel(address));
  std::vector<v1::Job> jobs;
  v1::ListJobsRequest request;
  request.set_page_size(100);
  request.set_filter(filter);
  request.set_order_by("create_time");
  while (true) {
    v1::ListJobsResponse response;
    const grpc::Status status = stub->ListJobs(Context().get(), request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "coordinator: ListJobs: %s\n", status.error_message().c_str());
      ok = false;
      return jobs;
    }
    for (v1::Job& job : *response.mutable_jobs()) jobs.push_back(std::move(job));
    if (response.next_page_token().empty()) return jobs;
    request.set_page_token(response.next_page_token());
  }
}

// Submitted jobs missing from `listed`, listed twice, listed but never submitted, or (when `want_succeeded`) in
// another state than SUCCEEDED.
int CountWrong(const std::vector<Submitted>& submitted, const std::vector<v1::Job>& listed, bool want_succeeded) {
  std::map<std::string, const v1::Job*> by_name;
  int wrong = 0;
  for (const v1::Job& job : listed) {
    if (!by_name.emplace(job.name(), &job).second) ++wrong;  // The same name twice.
  }
  std::set<std::string> expected;
  for (const Submitted& s : submitted) {
    if (s.name.empty()) {
      ++wrong;  // Never accepted.
      continue;
    }
    expected.insert(s.name);
    auto it = by_name.find(s.name);
    if (it == by_name.end() || it->second->spec().name() != s.spec_name ||
        (want_succeeded && it->second->state() != v1::JOB_STATE_SUCCEEDED)) {
      ++wrong;
    }
  }
  for (const auto& [name, job] : by_name) {
    if (!expected.contains(name)) ++wrong;  // A job nobody submitted.
  }
  return wrong;
}

int Run(const Options& o) {
  if (std::error_code ec; !o.data_dir.empty() && std::filesystem::exists(o.data_dir, ec) &&
                          !std::filesystem::is_empty(o.data_dir, ec)) {
    std::fprintf(stderr, "coordinator: --data-dir %s is not empty (the listing checks count every job)\n",
                 o.data_dir.c_str());
    return 2;
  }
  char work_template[] = "/tmp/ftd-bench-coordinator-XXXXXX";
  if (mkdtemp(work_template) == nullptr) {
    std::perror("coordinator: mkdtemp");
    return 2;
  }
  const std::string work = work_template;
  const std::string data_dir = o.data_dir.empty() ? work + "/ftd" : o.data_dir;
  const std::string dataset = o.model + "/config.json";  // Any existing file: the coordinator reads no dataset.
  std::fprintf(stderr, "coordinator: work dir %s (ftd logs), data dir %s\n", work.c_str(), data_dir.c_str());

  std::optional<FtdProcess> ftd = FtdProcess::Start(o.ftd, data_dir, work + "/ftd.1.log");
  if (!ftd.has_value()) return 2;

  WorkerLog log;
  std::vector<std::unique_ptr<FakeWorker>> workers;
  for (int w = 0; w < o.workers; ++w) {
    workers.push_back(std::make_unique<FakeWorker>(ftd->address(), w, log));
    if (!workers.back()->Register()) {
      ftd->Kill();
      return 2;
    }
  }
  for (auto& worker : workers) worker->StartWatching();
  std::atomic<bool> stop_heartbeats{false};
  std::thread heartbeats([&] {
    while (!stop_heartbeats) {
      for (auto& worker : workers) worker->Heartbeat();
      for (int i = 0; i < 20 && !stop_heartbeats; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  // Submit phase.
  const std::string run_id = "bench-" + std::to_string(getpid()) + "-" + std::to_string(time(nullptr));
  std::vector<Submitted> submitted(static_cast<size_t>(o.jobs));
  std::atomic<int> submit_failures{0};
  const Clock::time_point submit_start = Clock::now();
  {
    std::vector<std::thread> clients;
    for (int c = 0; c < o.clients; ++c) {
      clients.emplace_back(SubmitLoop, std::cref(o), std::cref(ftd->address()), std::cref(dataset),
                           std::cref(run_id), c, std::ref(submitted), std::ref(submit_failures));
    }
    for (std::thread& t : clients) t.join();
  }
  const double submit_seconds = Seconds(Clock::now() - submit_start);

  // Every accepted job played to DONE, or no job finished for 60 s.
  const int accepted = o.jobs - submit_failures.load();
  {
    std::unique_lock<std::mutex> lock(log.mu);
    while (log.done < accepted) {
      const int seen = log.done;
      if (!log.done_cv.wait_for(lock, std::chrono::seconds(60), [&] { return log.done != seen; })) {
        std::fprintf(stderr, "coordinator: no job finished in 60 s; %d of %d done\n", log.done, accepted);
        break;
      }
    }
  }
  const double end_to_end_seconds = Seconds(Clock::now() - submit_start);
  bool ok = true;
  const std::vector<v1::Job> succeeded = ListAll(ftd->address(), "state=SUCCEEDED", ok);
  const std::string metrics_page = ScrapeMetrics(ftd->http_address());
  std::ofstream(work + "/metrics.txt") << metrics_page;  // Kept with --keep: the cycle histogram's buckets.

  // Listing before the restart: every job, distinct names.
  const std::vector<v1::Job> before = ListAll(ftd->address(), "", ok);
  const int wrong_before = CountWrong(submitted, before, /*want_succeeded=*/true);

  stop_heartbeats = true;
  heartbeats.join();
  for (auto& worker : workers) worker->Stop();
  workers.clear();  // Their connections close, as exiting worker processes' would.
  const Clock::time_point restart_start = Clock::now();
  const int exit_code = ftd->Stop();
  const double stop_seconds = Seconds(Clock::now() - restart_start);
  if (exit_code != 0) std::fprintf(stderr, "coordinator: ftd exited with %d on SIGTERM\n", exit_code);
  ftd = FtdProcess::Start(o.ftd, data_dir, work + "/ftd.2.log");
  if (!ftd.has_value()) return 2;
  const double restart_seconds = Seconds(Clock::now() - restart_start);
  const Clock::time_point list_start = Clock::now();
  const std::vector<v1::Job> after = ListAll(ftd->address(), "", ok);
  const double list_seconds = Seconds(Clock::now() - list_start);
  const int wrong_after = CountWrong(submitted, after, /*want_succeeded=*/true);
  ftd->Stop();

  // Latencies.
  std::vector<double> submit_ms, sched_ms;
  int never_ran = 0;
  for (const Submitted& s : submitted) {
    if (s.name.empty()) continue;
    submit_ms.push_back(s.latency_ms);
    auto it = log.run_rank_at.find(s.name);
    if (it == log.run_rank_at.end()) {
      ++never_ran;
      continue;
    }
    sched_ms.push_back(Ms(it->second - s.returned));
  }
  const double submit_p50 = Percentile(submit_ms, 0.50), submit_p99 = Percentile(submit_ms, 0.99);
  const double sched_p50 = Percentile(sched_ms, 0.50), sched_p99 = Percentile(sched_ms, 0.99);
  const double sched_max = sched_ms.empty() ? 0 : sched_ms.back();
  const double gap_p50 = Percentile(log.idle_gap_ms, 0.50), gap_p99 = Percentile(log.idle_gap_ms, 0.99);
  // 0 when /metrics could not be read (the JSON line stays valid).
  double cycles = MetricValue(metrics_page, "ftd_coordinator_scheduling_cycle_seconds_count");
  const double cycle_sum = MetricValue(metrics_page, "ftd_coordinator_scheduling_cycle_seconds_sum");
  if (std::isnan(cycles) || std::isnan(cycle_sum)) cycles = 0;
  const double cycle_mean_ms = cycles > 0 ? cycle_sum / cycles * 1e3 : 0;
  const int wrong = wrong_before + wrong_after;
  const double rate = static_cast<double>(accepted) / submit_seconds;

  std::printf("# ftd coordinator: %d jobs (world_size 1, cpu), %d clients, %d fake workers; ftd %s\n", o.jobs,
              o.clients, o.workers, o.ftd.c_str());
  std::printf("# sched = RunRank at the fake worker - SubmitJob's return (bench clock; includes queueing)\n");
  std::printf("%6s %7s %7s %8s %9s %8s %8s %9s %9s %9s %8s %9s %8s %6s\n", "jobs", "clients", "workers",
              "submit_s", "submit/s", "sub_p50", "sub_p99", "sched_p50", "sched_p99", "sched_max", "e2e_s",
              "restart_s", "list_s", "#wrong");
  std::printf("%6d %7d %7d %8.2f %9.1f %8.2f %8.2f %9.1f %9.1f %9.1f %8.2f %9.2f %8.3f %6d\n", o.jobs, o.clients,
              o.workers, submit_seconds, rate, submit_p50, submit_p99, sched_p50, sched_p99, sched_max,
              end_to_end_seconds, restart_seconds, list_seconds, wrong);
  std::printf("# (ms unless _s) worker idle gap (DONE acked -> next RunRank) p50 %.1f p99 %.1f ms; "
              "restart = SIGTERM to exit %.2f s + start to serving %.2f s; "
              "scheduling cycles %.0f, mean %.2f ms; SUCCEEDED listed %zu; never ran %d; worker errors %d; "
              "#wrong before/after restart %d/%d\n",
              gap_p50, gap_p99, stop_seconds, restart_seconds - stop_seconds, cycles, cycle_mean_ms, succeeded.size(),
              never_ran, log.errors, wrong_before, wrong_after);
  std::printf("{\"bench\": \"coordinator\", \"jobs\": %d, \"clients\": %d, \"workers\": %d, \"submit_seconds\": %.3f, "
              "\"submissions_per_second\": %.1f, \"submit_p50_ms\": %.2f, \"submit_p99_ms\": %.2f, "
              "\"sched_p50_ms\": %.1f, \"sched_p99_ms\": %.1f, \"sched_max_ms\": %.1f, \"end_to_end_seconds\": %.3f, "
              "\"restart_seconds\": %.3f, \"stop_seconds\": %.3f, \"restart_list_seconds\": %.3f, "
              "\"idle_gap_p50_ms\": %.1f, \"idle_gap_p99_ms\": %.1f, \"scheduling_cycles\": %.0f, "
              "\"scheduling_cycle_mean_ms\": %.3f, \"worker_errors\": %d, \"wrong\": %d}\n",
              o.jobs, o.clients, o.workers, submit_seconds, rate, submit_p50, submit_p99, sched_p50, sched_p99,
              sched_max, end_to_end_seconds, restart_seconds, stop_seconds, list_seconds, gap_p50, gap_p99, cycles,
              cycle_mean_ms, log.errors, wrong);
  std::fflush(stdout);

  if (wrong == 0 && ok && !o.keep) {
    std::error_code ec;
    std::filesystem::remove_all(work, ec);
  } else {
    std::fprintf(stderr, "coordinator: kept %s\n", work.c_str());
  }
  return wrong == 0 && ok ? 0 : 1;
}

}  // namespace
}  // namespace ftd

int main(int argc, char** argv) {
  ftd::Options o;
  o.model = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io/tiny_llama";
  CLI::App app{"ftd coordinator benchmark: submit, schedule and list jobs against a real ftd with fake workers"};
  app.add_option("--ftd", o.ftd, "Path of the ftd binary")->required();
  app.add_option("--jobs", o.jobs, "Jobs to submit in total")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--clients", o.clients, "Submitting client threads")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--workers", o.workers, "Fake CPU workers")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--data-dir", o.data_dir, "ftd's data dir, absent or empty (default: a temp dir)");
  app.add_option("--model", o.model, "base_model of every job (a directory with config.json)")->capture_default_str();
  app.add_flag("--keep", o.keep, "Keep the temp dir with ftd's logs");
  CLI11_PARSE(app, argc, argv);
  o.model = std::filesystem::absolute(o.model).string();
  return ftd::Run(o);
}
