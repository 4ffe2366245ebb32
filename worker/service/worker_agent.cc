// WorkerAgent and RankRun: registration, heartbeats, the assignments stream and one supervised child per rank (see
// worker_agent.h).
#include "worker/service/worker_agent.h"

#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/checkpoint/file_checkpoint_store.h"
#include "common/job_spec_yaml.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/text_file.h"
#include "google/protobuf/util/time_util.h"
#include "model/file_io.h"
#include "nlohmann/json.hpp"
#include "worker/service/checkpoint_sync.h"
#include "worker/service/content_hash.h"
#include "worker/service/provenance.h"
#include "worker/service/rank_process.h"
#include "worker/service/worker_metrics.h"

namespace ftd {

using json = nlohmann::json;

namespace {

constexpr absl::Duration kCallTimeout = absl::Seconds(10);
constexpr absl::Duration kRetryPause = absl::Seconds(1);
constexpr size_t kMaxLogLineBytes = 16 << 10;
constexpr size_t kStderrTail = 20;

// (done, total) of `ftd-worker eval`'s progress line for `suite`, "piqa: 5/20"; nullopt for any other line.
std::optional<std::pair<int64_t, int64_t>> ParseEvalProgress(absl::string_view line, absl::string_view suite) {
  if (!absl::ConsumePrefix(&line, suite) || !absl::ConsumePrefix(&line, ": ")) return std::nullopt;
  const size_t slash = line.find('/');
  int64_t done = 0, total = 0;
  if (slash == absl::string_view::npos || !absl::SimpleAtoi(line.substr(0, slash), &done) ||
      !absl::SimpleAtoi(line.substr(slash + 1), &total)) {
    return std::nullopt;
  }
  return std::make_pair(done, total);
}

bool Retryable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

google::protobuf::Timestamp Now() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
}

int64_t PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? static_cast<int64_t>(pages) * page_size : 0;
}

std::string HostName() {
  char name[256] = {};
  return gethostname(name, sizeof(name) - 1) == 0 ? std::string(name) : "unknown";
}

// "jobs/ft-000001" -> "ft-000001" (a directory name).
std::string JobDirName(const std::string& job) {
  const size_t slash = job.rfind('/');
  return slash == std::string::npos ? job : job.substr(slash + 1);
}

// What an EVALUATE rank scores, as `ftd-worker eval` flags.
struct ScoredModel {
  std::string model;          // --model: a Hugging Face model directory
  std::string adapter;        // --adapter; empty for none
  std::string quantize_base;  // --quantize-base; empty: the weights as stored
};

// The `--quantize-base` value (worker/inference_model.h; the agent runs `ftd-worker eval` as a child and links none
// of its code) that scores a job's result as the job trained it: a qlora adapter sat on its base NF4-quantised with
// the job's statistics; lora and full results are scored on the weights as stored.
std::string QuantizeBaseFor(const v1::JobSpec& trained_by) {
  if (trained_by.method() != v1::METHOD_QLORA) return std::string();
  return trained_by.bnb_4bit_use_double_quant() ? "nf4-double-quant" : "nf4";
}

}  // namespace

// One assigned rank: prepares its directory, runs the child, turns its output into reports and checkpoint uploads,
// and reports how it ended. Lifecycle: construct, Start (its own thread), Abort any time, Join once finished.
class RankRun {
 public:
  RankRun(v1::RunRank run, const WorkerAgentOptions& options, CoordinatorConnection& connection,
          std::string worker_name, const std::atomic<bool>& stopping)
      : run_(std::move(run)),
        options_(options),
        connection_(connection),
        worker_name_(std::move(worker_name)),
        stopping_(stopping),
        dir_(JoinPath(options.work_dir,
                      absl::StrCat("jobs/", JobDirName(run_.job()), "/attempt-", run_.attempt(), "/rank-", run_.rank(),
                                   run_.task() == v1::RANK_TASK_EVALUATE
                                       ? absl::StrCat("-eval-", absl::AsciiStrToLower(absl::StripPrefix(
                                                                    v1::EvaluationRole_Name(run_.eval_role()),
                                                                    "EVALUATION_ROLE_")))
                                       : ""))) {}

  void Start() { thread_ = std::thread([this] { Main(); }); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  // Kills the child without a final report (the coordinator has already moved on).
  void Abort(const std::string& reason) {
    std::shared_ptr<RankProcess> process;
    {
      absl::MutexLock lock(&mu_);
      if (aborted_ || finished_) return;
      aborted_ = true;
      process = process_;
    }
    FTD_LOG(INFO) << "aborting rank " << run_.rank() << " of " << run_.job() << " attempt " << run_.attempt() << ": "
                  << reason;
    if (process != nullptr) process->Kill();
  }

  bool finished() const {
    absl::MutexLock lock(&mu_);
    return finished_;
  }
  const v1::RunRank& run() const { return run_; }

  v1::RankStatus Status() const {
    absl::MutexLock lock(&mu_);
    return status_;
  }

  // Sends what is buffered as one batch (a status change included); retries while the coordinator is unreachable.
  // A FAILED_PRECONDITION answer (the attempt is over) kills the rank.
  void Flush() {
    absl::MutexLock send_lock(&send_mu_);
    v1::ReportMetricsRequest request;
    {
      absl::MutexLock lock(&mu_);
      if (pending_metrics_.empty() && pending_logs_.empty() && !status_dirty_ && pending_results_.empty() &&
          !progress_dirty_) {
        return;
      }
      if (progress_dirty_) *request.mutable_evaluation_progress() = progress_;
      progress_dirty_ = false;
      for (v1::MetricsSample& sample : pending_metrics_) *request.add_metrics() = std::move(sample);
      for (v1::LogLine& line : pending_logs_) *request.add_logs() = std::move(line);
      pending_metrics_.clear();
      pending_logs_.clear();
      if (status_dirty_) *request.mutable_status() = status_;
      status_dirty_ = false;
      for (v1::BenchmarkResult& result : pending_results_) *request.add_results() = std::move(result);
      if (!pending_results_.empty()) request.set_baseline_model_sha256(baseline_model_sha256_);
      pending_results_.clear();
    }
    request.set_worker(worker_name_);
    request.set_job(run_.job());
    request.set_attempt(run_.attempt());
    request.set_rank(run_.rank());
    request.set_batch_sequence(++batch_sequence_);
    while (true) {
      v1::ReportMetricsResponse response;
      const auto context = connection_.NewContext(kCallTimeout);
      const absl::Status status =
          FromGrpc(connection_.stub().ReportMetrics(context.get(), request, &response), "ReportMetrics");
      if (status.ok()) {
        Count(&WorkerMetrics::Report, "ok");
        return;
      }
      if (absl::IsFailedPrecondition(status)) {
        Count(&WorkerMetrics::Report, "dropped");
        FTD_LOG(INFO) << status;
        Abort(std::string(status.message()));
        return;
      }
      if (!Retryable(status) || stopping_.load()) {
        FTD_LOG(WARNING) << "rank " << run_.rank() << " of " << run_.job() << ": dropping a report: " << status;
        Count(&WorkerMetrics::Report, "dropped");
        return;
      }
      Count(&WorkerMetrics::Report, "retried");
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(kRetryPause));
    }
  }

 private:
  // Calls a WorkerMetrics counter method when the worker has metrics.
  void Count(void (WorkerMetrics::*method)(absl::string_view), absl::string_view label) {
    if (options_.metrics != nullptr) (options_.metrics->*method)(label);
  }

  void SetState(v1::RankState state) {
    absl::MutexLock lock(&mu_);
    status_.set_state(state);
    status_dirty_ = true;
  }

  void Log(v1::LogLevel level, std::string text) {
    if (text.size() > kMaxLogLineBytes) text.resize(kMaxLogLineBytes);
    absl::MutexLock lock(&mu_);
    v1::LogLine& line = pending_logs_.emplace_back();
    *line.mutable_time() = Now();
    line.set_level(level);
    line.set_text(std::move(text));
  }

  void Fail(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    status_.set_state(v1::RANK_STATE_FAILED);
    status_.set_error_status_code(static_cast<int32_t>(status.code()));
    status_.mutable_error()->set_message(std::string(status.message()));
    status_dirty_ = true;
  }

  void OnLine(OutputStream stream, const std::string& text) {
    if (stream == OutputStream::kStderr) {
      {
        absl::MutexLock lock(&mu_);
        stderr_tail_.push_back(text);
        if (stderr_tail_.size() > kStderrTail) stderr_tail_.pop_front();
      }
      Log(v1::LOG_LEVEL_WARNING, text);
      return;
    }
    const json line = text.starts_with("{") ? json::parse(text, nullptr, /*allow_exceptions=*/false) : json();
    if (!line.is_object()) {
      Log(v1::LOG_LEVEL_INFO, text);
      return;
    }
    try {
      if (line.contains("checkpoint")) {
        OnCheckpoint(line.at("checkpoint").get<std::string>(), line.at("best").get<bool>());
      } else if (line.contains("eval")) {
        v1::MetricsSample sample;
        sample.set_step(line.at("step").get<int64_t>());
        *sample.mutable_time() = Now();
        if (line.at("task_val_loss").is_number()) sample.set_eval_task_loss(line.at("task_val_loss").get<double>());
        if (line.at("general_ppl").is_number()) {
          sample.set_eval_general_perplexity(line.at("general_ppl").get<double>());
        }
        if (line.contains("general_ppl_limit") && line.at("general_ppl_limit").is_number()) {
          (*sample.mutable_extra())["general_ppl_limit"] = line.at("general_ppl_limit").get<double>();
        }
        AddSample(std::move(sample));
      } else if (line.contains("step")) {
        OnStep(line);
      } else {
        Log(v1::LOG_LEVEL_INFO, text);
      }
    } catch (const json::exception& e) {
      Log(v1::LOG_LEVEL_WARNING, absl::StrCat("unreadable progress line (", e.what(), "): ", text));
    }
  }

  void OnStep(const json& line) {
    const int64_t step = line.at("step").get<int64_t>();
    const int64_t tokens = line.at("tokens").get<int64_t>();
    const double seconds = line.at("seconds").get<double>();
    v1::MetricsSample sample;
    sample.set_step(step);
    *sample.mutable_time() = Now();
    sample.set_epoch(line.at("epoch").get<double>());
    tokens_seen_ += tokens;
    sample.set_tokens_seen(tokens_seen_);
    sample.set_train_loss(line.at("loss").get<double>());
    if (options_.metrics != nullptr) options_.metrics->TrainLoss(run_.job(), run_.rank(), sample.train_loss());
    sample.set_learning_rate(line.at("lr").get<double>());
    sample.set_grad_norm(line.at("grad_norm").get<double>());
    if (seconds > 0) sample.set_tokens_per_second(static_cast<double>(tokens) / seconds);
    (*sample.mutable_extra())["total_steps"] = line.at("total_steps").get<double>();
    (*sample.mutable_extra())["step_seconds"] = seconds;
    // The trainer's cost breakdown and utilisation (worker/train_command.h), passed on under the same names.
    for (const char* key : {"data_seconds", "allreduce_seconds", "model_flops", "mfu", "device_memory_peak_bytes"}) {
      if (line.contains(key) && line.at(key).is_number()) (*sample.mutable_extra())[key] = line.at(key).get<double>();
    }
    {
      absl::MutexLock lock(&mu_);
      status_.set_step(step);
      if (status_.state() != v1::RANK_STATE_TRAINING) {
        status_.set_state(v1::RANK_STATE_TRAINING);
        status_dirty_ = true;
      }
    }
    AddSample(std::move(sample));
  }

  // Only rank 0's samples are job-level; the others' would repeat them.
  void AddSample(v1::MetricsSample sample) {
    if (run_.rank() != 0) return;
    absl::MutexLock lock(&mu_);
    pending_metrics_.push_back(std::move(sample));
  }

  v1::CheckpointKind Kind() const {
    return run_.resolved_spec().method() == v1::METHOD_FULL ? v1::CHECKPOINT_KIND_FULL : v1::CHECKPOINT_KIND_ADAPTER;
  }

  // Rank 0 uploads every committed checkpoint as it appears (the child has gone on training meanwhile).
  void OnCheckpoint(const std::string& name, bool best) {
    if (run_.rank() != 0) return;
    Flush();  // The steps before the checkpoint reach the coordinator first.
    absl::Status status =
        local_checkpoints_ == nullptr ? absl::FailedPreconditionError("no local store") : absl::OkStatus();
    for (int attempt = 0; status.ok() || Retryable(status); ++attempt) {
      const absl::Time started = absl::Now();
      absl::StatusOr<v1::Checkpoint> stored =
          UploadCheckpoint(connection_, *local_checkpoints_, name, {run_.job(), run_.attempt()}, Kind(), best);
      status = stored.status();
      if (status.ok()) {
        Uploaded(started, *stored);
        Log(v1::LOG_LEVEL_INFO, absl::StrCat("uploaded checkpoint ", stored->name(), best ? " (best)" : ""));
        return;
      }
      if (attempt >= 30 || stopping_.load()) break;
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(kRetryPause));
    }
    Log(v1::LOG_LEVEL_WARNING, absl::StrCat("checkpoint ", name, " was not uploaded: ", status.message()));
  }

  void Uploaded(absl::Time started, const v1::Checkpoint& stored) {
    if (options_.metrics != nullptr) {
      options_.metrics->CheckpointUploaded(absl::ToDoubleSeconds(absl::Now() - started),
                                           static_cast<double>(stored.size_bytes()));
    }
  }

  absl::Status Prepare() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::create_directories(JoinPath(dir_, "output"), ec);
    if (ec) return absl::InternalError(absl::StrCat("creating the rank directory ", dir_, ": ", ec.message()));
    ASSIGN_OR_RETURN(local_checkpoints_, OpenFileCheckpointStore(JoinPath(dir_, "checkpoints")));
    if (run_.rank() == 0 && !run_.resume_checkpoint().empty()) {
      absl::StatusOr<std::string> local;
      for (int attempt = 0; attempt < 30 && !stopping_.load(); ++attempt) {
        local = DownloadCheckpoint(connection_, run_.resume_checkpoint(), *local_checkpoints_);
        if (!Retryable(local.status())) break;
        std::this_thread::sleep_for(absl::ToChronoMilliseconds(kRetryPause));
      }
      RETURN_IF_ERROR(local.status());
      Log(v1::LOG_LEVEL_INFO, absl::StrCat("resuming from ", run_.resume_checkpoint()));
    }
    return WriteFileAtomically(JoinPath(dir_, "spec.yaml"), {AsBytes(JobSpecToYaml(run_.resolved_spec()))});
  }

  // The child's credentials for the coordinator and, on a GPU worker, a view of its one GPU only (device 0 there):
  // the rank's CUDA backend and NCCL communicator open the device this worker drives. The worker's --gpu counts in
  // its own view, which CUDA_VISIBLE_DEVICES may already narrow (a Kubernetes device plugin sets it): the child gets
  // that list's entry.
  std::vector<std::string> ChildEnvironment() const {
    std::vector<std::string> env = ConnectionEnvironment(options_.coordinator);
    if (options_.gpus.empty()) return env;
    const int index = options_.gpus[0].index();
    std::string device = absl::StrCat(index);
    if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES"); visible != nullptr) {
      const std::vector<std::string> listed = absl::StrSplit(visible, ',', absl::SkipEmpty());
      if (index >= 0 && index < static_cast<int>(listed.size())) device = listed[static_cast<size_t>(index)];
    }
    env.push_back(absl::StrCat("CUDA_VISIBLE_DEVICES=", device));
    return env;
  }

  std::vector<std::string> Argv() const {
    std::vector<std::string> argv = {options_.worker_binary,
                                     "train",
                                     JoinPath(dir_, "spec.yaml"),
                                     "--output",
                                     JoinPath(dir_, "output"),
                                     "--json",
                                     "--rank",
                                     absl::StrCat(run_.rank()),
                                     "--world-size",
                                     absl::StrCat(run_.world_size()),
                                     "--checkpoints",
                                     absl::StrCat("file:", JoinPath(dir_, "checkpoints")),
                                     "--error-file",
                                     JoinPath(dir_, "error.json"),
                                     "--collective-timeout",
                                     absl::StrCat(options_.collective_timeout_s)};
    if (options_.peak_flops > 0) {
      argv.push_back("--peak-flops");
      argv.push_back(absl::StrCat(options_.peak_flops));
    }
    if (run_.world_size() > 1) {
      argv.push_back("--rendezvous");
      argv.push_back(absl::StrCat("coordinator:", options_.coordinator.address, "/", run_.job(), "/",
                                  run_.attempt()));
    }
    return argv;
  }

  // What a child that exited non-zero failed with: its error file, else how it exited.
  absl::Status ChildError(const RankExit& exit) {
    absl::StatusOr<std::string> text = ReadFileToString(JoinPath(dir_, "error.json"));
    if (text.ok()) {
      const json error = json::parse(*text, nullptr, /*allow_exceptions=*/false);
      if (error.is_object() && error.contains("code") && error.contains("message")) {
        return absl::Status(static_cast<absl::StatusCode>(error["code"].get<int>()),
                            error["message"].get<std::string>());
      }
    }
    std::string tail;
    {
      absl::MutexLock lock(&mu_);
      tail = absl::StrJoin(stderr_tail_, "\n");
    }
    return absl::InternalError(absl::StrCat("the rank process ",
                                            exit.signal != 0 ? absl::StrCat("was killed by signal ", exit.signal)
                                                             : absl::StrCat("exited with code ", exit.exit_code),
                                            tail.empty() ? "" : ": ", tail));
  }

  // Rank 0 after a clean exit: the final result (with provenance) goes up, then DONE or EARLY_STOPPED.
  absl::Status Finish() {
    if (run_.rank() != 0) {
      SetState(v1::RANK_STATE_DONE);
      return absl::OkStatus();
    }
    const std::string output = JoinPath(dir_, "output");
    ASSIGN_OR_RETURN(const std::string result_text, ReadFileToString(JoinPath(output, "result.json")));
    const json result = json::parse(result_text, nullptr, /*allow_exceptions=*/false);
    if (!result.is_object()) return absl::DataLossError("the rank's result.json does not parse");
    ASSIGN_OR_RETURN(const std::string provenance,
                     BuildProvenanceJson(run_.job(), run_.attempt(), run_.resolved_spec(), options_.version));
    RETURN_IF_ERROR(WriteFileAtomically(JoinPath(output, "provenance.json"), {AsBytes(provenance)}));
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(output, ec)) {
      // Step logs stay on the worker: their lines already went to the coordinator as metrics.
      if (entry.path().filename().string().starts_with("train_log")) std::filesystem::remove(entry.path(), ec);
    }
    const int64_t steps = result.value("steps", int64_t{0});
    absl::StatusOr<v1::Checkpoint> stored;
    for (int attempt = 0; attempt < 60 && !stopping_.load(); ++attempt) {
      const absl::Time started = absl::Now();
      stored = UploadFinalResult(connection_, output, {run_.job(), run_.attempt()}, Kind(), steps);
      if (stored.ok()) Uploaded(started, *stored);
      if (!Retryable(stored.status())) break;
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(kRetryPause));
    }
    RETURN_IF_ERROR(stored.status());
    Log(v1::LOG_LEVEL_INFO, absl::StrCat("uploaded the final result ", stored->name()));
    absl::MutexLock lock(&mu_);
    status_.set_step(steps);
    status_dirty_ = true;
    if (result.value("state", std::string()) != "EARLY_STOPPED") {
      status_.set_state(v1::RANK_STATE_DONE);
      return absl::OkStatus();
    }
    status_.set_state(v1::RANK_STATE_EARLY_STOPPED);
    v1::EarlyStop& stop = *status_.mutable_early_stop();
    const json& evals = result.at("evals");
    const v1::EarlyStopping& spec = run_.resolved_spec().early_stopping();
    if (!evals.empty()) {
      stop.set_step(evals.back().value("step", int64_t{0}));
      stop.set_general_perplexity(evals.back().value("general_ppl", 0.0));
      stop.set_base_general_perplexity(evals.front().value("general_ppl", 0.0));
      stop.set_limit(stop.base_general_perplexity() * (1.0 + spec.general_ppl_max_rise()));
    }
    stop.set_evaluations_over_limit(spec.patience());
    const size_t recent = std::min<size_t>(evals.size(), static_cast<size_t>(std::max(spec.patience(), 0)));
    for (size_t i = evals.size() - recent; i < evals.size(); ++i) {
      stop.add_recent_general_perplexities(evals[i].value("general_ppl", 0.0));
    }
    return absl::OkStatus();
  }

  // The model an EVALUATE rank scores, the job's final result downloaded first. Only a job's result (a checkpoint
  // target) can be a qlora adapter scored on its quantised base: the base model of a training job's battery and an
  // evaluation's model or adapter directories are scored as stored.
  absl::StatusOr<ScoredModel> EvaluationModel() {
    const v1::EvaluationTarget& target = run_.eval_target();
    if (target.has_adapter()) return ScoredModel{target.adapter().base_model(), target.adapter().adapter_path(), ""};
    if (!target.model_path().empty()) return ScoredModel{target.model_path(), "", ""};
    if (target.checkpoint().empty()) return absl::InvalidArgumentError("the evaluation names no model");
    const std::string dir = JoinPath(dir_, "tuned");
    absl::StatusOr<v1::Checkpoint> downloaded;
    for (int attempt = 0; attempt < 30 && !stopping_.load(); ++attempt) {
      downloaded = DownloadCheckpointFiles(connection_, target.checkpoint(), dir);
      if (!Retryable(downloaded.status())) break;
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(kRetryPause));
    }
    RETURN_IF_ERROR(downloaded.status());
    Log(v1::LOG_LEVEL_INFO, absl::StrCat("scoring ", target.checkpoint()));
    // The result says what it is: its provenance.json carries the spec of the job that trained it (a stand-alone
    // evaluation may score another job's result). A result without one is taken as this job's.
    v1::JobSpec trained_by = run_.resolved_spec();
    const std::string provenance_path = JoinPath(dir, "provenance.json");
    if (std::filesystem::exists(provenance_path)) {
      ASSIGN_OR_RETURN(const std::string text, ReadTextFile(provenance_path));
      ASSIGN_OR_RETURN(trained_by, ParseProvenanceSpec(text, provenance_path));
    }
    if (trained_by.method() == v1::METHOD_FULL) return ScoredModel{dir, "", ""};
    const std::string quantize_base = QuantizeBaseFor(trained_by);
    if (!quantize_base.empty()) {
      Log(v1::LOG_LEVEL_INFO, absl::StrCat("method qlora: scoring the adapter on base model ", trained_by.base_model(),
                                           " quantised at load (--quantize-base ", quantize_base, "), as trained"));
    }
    return ScoredModel{trained_by.base_model(), dir, quantize_base};
  }

  // One benchmark through a child `ftd-worker eval --json`, its JSON turned into a BenchmarkResult.
  absl::StatusOr<v1::BenchmarkResult> RunBenchmark(int index, const v1::Benchmark& benchmark,
                                                   const ScoredModel& scored) {
    static const std::map<v1::BenchmarkSuite, std::string> kSuites = {
        {v1::BENCHMARK_SUITE_MMLU, "mmlu"},           {v1::BENCHMARK_SUITE_HELLASWAG, "hellaswag"},
        {v1::BENCHMARK_SUITE_PIQA, "piqa"},           {v1::BENCHMARK_SUITE_PERPLEXITY, "perplexity"},
        {v1::BENCHMARK_SUITE_LONG_CONTEXT, "long_context"}, {v1::BENCHMARK_SUITE_TASK, "task"}};
    auto suite = kSuites.find(benchmark.suite());
    if (suite == kSuites.end()) {
      return absl::InvalidArgumentError(absl::StrCat("benchmark suite ", v1::BenchmarkSuite_Name(benchmark.suite())));
    }
    std::vector<std::string> argv = {options_.worker_binary, "eval", "--model", scored.model, "--suite", suite->second,
                                     "--data", benchmark.path(), "--json"};
    if (!scored.adapter.empty()) argv.insert(argv.end(), {"--adapter", scored.adapter});
    if (!scored.quantize_base.empty()) argv.insert(argv.end(), {"--quantize-base", scored.quantize_base});
    if (benchmark.has_num_fewshot()) argv.insert(argv.end(), {"--num-fewshot", absl::StrCat(benchmark.num_fewshot())});
    if (benchmark.has_limit()) argv.insert(argv.end(), {"--limit", absl::StrCat(benchmark.limit())});
    if (benchmark.suite() == v1::BENCHMARK_SUITE_LONG_CONTEXT && !benchmark.context_lengths().empty()) {
      argv.insert(argv.end(), {"--context-lengths", absl::StrJoin(benchmark.context_lengths(), ",")});
    }
    std::string result_line;
    RankProcessOptions process_options;
    process_options.argv = argv;
    process_options.extra_env = ChildEnvironment();
    process_options.on_line = [&](OutputStream stream, const std::string& line) {
      if (stream == OutputStream::kStdout && line.starts_with("{")) {
        result_line = line;
      } else if (stream == OutputStream::kStderr) {
        absl::MutexLock lock(&mu_);
        if (const auto progress = ParseEvalProgress(line, suite->second); progress.has_value()) {
          // Sent with the next report (EvaluationProgress), kept out of the error tail it would crowd.
          progress_.set_role(run_.eval_role());
          progress_.set_suite(benchmark.suite());
          progress_.set_benchmark_index(index);
          progress_.set_benchmark_count(run_.benchmarks_size());
          progress_.set_items_done(progress->first);
          progress_.set_items_total(progress->second);
          progress_dirty_ = true;
          return;
        }
        stderr_tail_.push_back(line);
        if (stderr_tail_.size() > kStderrTail) stderr_tail_.pop_front();
      }
    };
    const absl::Time started = absl::Now();
    ASSIGN_OR_RETURN(std::unique_ptr<RankProcess> started_process, RankProcess::Start(std::move(process_options)));
    std::shared_ptr<RankProcess> process = std::move(started_process);
    {
      absl::MutexLock lock(&mu_);
      process_ = process;
      if (aborted_) process->Kill();
    }
    const RankExit exit = process->Wait();
    {
      absl::MutexLock lock(&mu_);
      process_.reset();
      if (aborted_) return absl::CancelledError("aborted");
    }
    if (!exit.ok()) return ChildError(exit);
    const json parsed = json::parse(result_line, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object() || !parsed.contains("metrics")) {
      return absl::InternalError(absl::StrCat("ftd-worker eval printed no result for ", suite->second));
    }
    v1::BenchmarkResult result;
    *result.mutable_benchmark() = benchmark;
    const int64_t items = parsed.value("items", int64_t{0});
    const bool grouped = parsed.contains("subtasks");
    for (const auto& [name, metric] : parsed["metrics"].items()) {
      v1::MetricValue& value = *result.add_metrics();
      value.set_metric(name);
      value.set_value(metric.at("value").get<double>());
      value.set_n(items);
      const bool higher = metric.value("higher_is_better", true);
      value.set_direction(higher ? v1::METRIC_DIRECTION_HIGHER_IS_BETTER : v1::METRIC_DIRECTION_LOWER_IS_BETTER);
      if (metric.at("stderr").is_number()) {
        value.set_stderr(metric.at("stderr").get<double>());
        value.set_stderr_method(suite->second == "perplexity" ? v1::STDERR_METHOD_BOOTSTRAP
                                : grouped                      ? v1::STDERR_METHOD_POOLED
                                                               : v1::STDERR_METHOD_SAMPLE);
      }
    }
    const absl::Duration took = absl::Now() - started;
    result.mutable_duration()->set_seconds(absl::ToInt64Seconds(took));
    Log(v1::LOG_LEVEL_INFO, absl::StrCat(v1::EvaluationRole_Name(run_.eval_role()), " ", suite->second, ": ",
                                         parsed["metrics"].dump()));
    return result;
  }

  // An EVALUATE rank: every benchmark of the job on its model, then DONE with the results.
  void EvaluateMain() {
    SetState(v1::RANK_STATE_EVALUATING);
    Flush();
    absl::Status outcome = absl::OkStatus();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::create_directories(dir_, ec);
    if (ec) outcome = absl::InternalError(absl::StrCat("creating ", dir_, ": ", ec.message()));
    std::vector<v1::BenchmarkResult> results;
    std::string baseline_hash;
    if (outcome.ok()) {
      absl::StatusOr<ScoredModel> model = EvaluationModel();
      outcome = model.status();
      // The content hashes the coordinator's base-results cache is keyed by (content_hash.h). Each directory is
      // hashed once: a LoRA job's base model is both under the tuned adapter and the baseline.
      std::map<std::string, std::string> hashed_dirs;
      const auto dir_hash = [&hashed_dirs](const std::string& path) -> absl::StatusOr<std::string> {
        if (path.empty()) return std::string();
        if (auto it = hashed_dirs.find(path); it != hashed_dirs.end()) return it->second;
        ASSIGN_OR_RETURN(std::string hash, ContentSha256(path));
        return hashed_dirs[path] = std::move(hash);
      };
      const auto model_sha256 = [&dir_hash](const std::string& dir,
                                            const std::string& adapter) -> absl::StatusOr<std::string> {
        ASSIGN_OR_RETURN(const std::string dir_sha256, dir_hash(dir));
        ASSIGN_OR_RETURN(const std::string adapter_sha256, dir_hash(adapter));
        return CombineModelSha256(dir_sha256, adapter_sha256);
      };
      // A quantised scoring is another model than the same files scored as stored. The coordinator caches only
      // base-role results (job_runtime.cc BaseCacheKey), but a stand-alone evaluation's baseline may be a qlora job's
      // result, scored quantised: its key must never be the one an unquantised scoring of those files would use.
      absl::StatusOr<std::string> model_hash =
          outcome.ok() ? model_sha256(model->model, model->adapter) : absl::StatusOr<std::string>(outcome);
      if (model_hash.ok()) *model_hash = QuantizedModelSha256(*model_hash, model->quantize_base);
      outcome = model_hash.status();
      if (outcome.ok() && run_.has_baseline_target()) {
        const v1::EvaluationTarget& baseline = run_.baseline_target();
        absl::StatusOr<std::string> hashed =
            baseline.has_adapter() ? model_sha256(baseline.adapter().base_model(), baseline.adapter().adapter_path())
                                   : model_sha256(baseline.model_path(), "");
        outcome = hashed.status();
        if (hashed.ok()) baseline_hash = *std::move(hashed);
      }
      for (int i = 0; outcome.ok() && i < run_.benchmarks_size(); ++i) {
        absl::StatusOr<v1::BenchmarkResult> result =
            RunBenchmark(i, run_.benchmarks(i), *model);
        outcome = result.status();
        if (!result.ok()) break;
        result->set_model_sha256(*model_hash);
        absl::StatusOr<std::string> data_hash = BenchmarkDataSha256(run_.benchmarks(i));
        outcome = data_hash.status();
        if (data_hash.ok()) result->set_data_sha256(*data_hash);
        results.push_back(*std::move(result));
      }
    }
    bool aborted;
    {
      absl::MutexLock lock(&mu_);
      aborted = aborted_;
    }
    if (aborted) {
      MarkFinished("aborted");
      return;
    }
    if (outcome.ok()) {
      absl::MutexLock lock(&mu_);
      pending_results_ = std::move(results);
      baseline_model_sha256_ = std::move(baseline_hash);
      status_.set_state(v1::RANK_STATE_DONE);
      status_dirty_ = true;
    } else {
      Log(v1::LOG_LEVEL_ERROR, absl::StrCat("evaluation failed: ", outcome.ToString()));
      Fail(outcome);
    }
    Flush();
    MarkFinished(outcome.ok() ? "done" : "failed");
  }

  void Main() {
    {
      absl::MutexLock lock(&mu_);
      status_.set_job(run_.job());
      status_.set_attempt(run_.attempt());
      status_.set_rank(run_.rank());
    }
    if (run_.task() == v1::RANK_TASK_EVALUATE) {
      if (options_.metrics != nullptr) options_.metrics->RankStarted();
      EvaluateMain();
      return;
    }
    if (options_.metrics != nullptr) options_.metrics->RankStarted();
    SetState(v1::RANK_STATE_STARTING);
    Flush();
    absl::Status outcome = Prepare();
    if (outcome.ok()) {
      RankProcessOptions process_options;
      process_options.argv = Argv();
      process_options.extra_env = ChildEnvironment();
      process_options.on_line = [this](OutputStream stream, const std::string& line) { OnLine(stream, line); };
      if (run_.world_size() > 1) SetState(v1::RANK_STATE_RENDEZVOUS);
      absl::StatusOr<std::unique_ptr<RankProcess>> started = RankProcess::Start(std::move(process_options));
      if (started.ok()) {
        std::shared_ptr<RankProcess> process = *std::move(started);
        bool aborted;
        {
          absl::MutexLock lock(&mu_);
          process_ = process;
          aborted = aborted_;
        }
        if (aborted) process->Kill();
        const RankExit exit = process->Wait();
        {
          absl::MutexLock lock(&mu_);
          aborted = aborted_;
        }
        if (aborted) {
          MarkFinished("aborted");
          return;
        }
        outcome = exit.ok() ? Finish() : ChildError(exit);
      } else {
        outcome = started.status();
      }
    }
    if (!outcome.ok()) {
      Log(v1::LOG_LEVEL_ERROR, absl::StrCat("rank ", run_.rank(), " failed: ", outcome.ToString()));
      Fail(outcome);
    }
    Flush();
    v1::RankState state;
    {
      absl::MutexLock lock(&mu_);
      state = status_.state();
    }
    MarkFinished(state == v1::RANK_STATE_FAILED          ? "failed"
                 : state == v1::RANK_STATE_EARLY_STOPPED ? "early_stopped"
                                                         : "done");
  }

  void MarkFinished(absl::string_view result) {
    if (options_.metrics != nullptr) options_.metrics->RankEnded(result);
    absl::MutexLock lock(&mu_);
    finished_ = true;
    process_.reset();
  }

  const v1::RunRank run_;
  const WorkerAgentOptions& options_;
  CoordinatorConnection& connection_;
  const std::string worker_name_;
  const std::atomic<bool>& stopping_;
  const std::string dir_;
  std::unique_ptr<CheckpointStore> local_checkpoints_;  // Set by Prepare, before the child starts.
  int64_t tokens_seen_ = 0;                             // Reader thread only.
  std::thread thread_;

  absl::Mutex send_mu_;  // One batch in flight at a time, so sequences arrive in order.
  int64_t batch_sequence_ ABSL_GUARDED_BY(send_mu_) = 0;

  mutable absl::Mutex mu_;
  v1::RankStatus status_ ABSL_GUARDED_BY(mu_);
  bool status_dirty_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<v1::MetricsSample> pending_metrics_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::LogLine> pending_logs_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::BenchmarkResult> pending_results_ ABSL_GUARDED_BY(mu_);  // EVALUATE: sent with the DONE.
  std::string baseline_model_sha256_ ABSL_GUARDED_BY(mu_);  // EVALUATE, TUNED: RunRank.baseline_target's hash.
  v1::EvaluationProgress progress_ ABSL_GUARDED_BY(mu_);   // EVALUATE: the running benchmark's, from the child.
  bool progress_dirty_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::string> stderr_tail_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<RankProcess> process_ ABSL_GUARDED_BY(mu_);
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

WorkerAgent::WorkerAgent(WorkerAgentOptions options, std::unique_ptr<CoordinatorConnection> connection)
    : options_(std::move(options)), connection_(std::move(connection)) {}

absl::StatusOr<std::unique_ptr<WorkerAgent>> WorkerAgent::Create(WorkerAgentOptions options) {
  if (options.work_dir.empty()) return absl::InvalidArgumentError("--work-dir is required");
  if (options.worker_binary.empty()) return absl::InvalidArgumentError("the ftd-worker binary path is empty");
  if (options.cpu_cores <= 0) return absl::InvalidArgumentError("--cpu-cores must be positive");
  if (options.memory_bytes < 0) return absl::InvalidArgumentError("--memory-bytes must not be negative");
  if (options.memory_bytes == 0) options.memory_bytes = PhysicalMemoryBytes();
  if (options.host.empty()) options.host = HostName();
  std::error_code ec;
  std::filesystem::create_directories(options.work_dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("--work-dir ", options.work_dir, ": ", ec.message()));
  ASSIGN_OR_RETURN(std::unique_ptr<CoordinatorConnection> connection,
                   CoordinatorConnection::Create(options.coordinator));
  std::unique_ptr<WorkerAgent> agent(new WorkerAgent(std::move(options), std::move(connection)));
  v1::RegisterWorkerRequest& request = agent->registration_;
  request.set_host(agent->options_.host);
  request.set_advertise_address(agent->options_.advertise_address);
  request.mutable_cpu()->set_cores(agent->options_.cpu_cores);
  request.mutable_cpu()->set_memory_bytes(agent->options_.memory_bytes);
  request.set_version(agent->options_.version);
  request.set_cuda_compiled_in(agent->options_.cuda_compiled_in);
  for (const v1::GpuDevice& gpu : agent->options_.gpus) *request.add_gpus() = gpu;
  request.set_instance(std::filesystem::absolute(agent->options_.work_dir).lexically_normal().string());
  for (const auto& [key, value] : agent->options_.labels) (*request.mutable_labels())[key] = value;
  return agent;
}

WorkerAgent::~WorkerAgent() {
  Stop();
  if (watch_thread_.joinable()) watch_thread_.join();
  if (report_thread_.joinable()) report_thread_.join();
  AbortAll("the worker is shutting down");
  absl::MutexLock lock(&mu_);
  for (auto& [key, rank] : ranks_) rank->Join();
}

std::string WorkerAgent::worker_name() const {
  absl::MutexLock lock(&mu_);
  return worker_name_;
}

void WorkerAgent::Stop() {
  stopping_.store(true);
  absl::MutexLock lock(&mu_);
  if (watch_context_ != nullptr) watch_context_->TryCancel();
}

absl::Status WorkerAgent::Register() {
  while (!stopping_.load()) {
    v1::RegisterWorkerResponse response;
    const auto context = connection_->NewContext(kCallTimeout);
    const absl::Status status =
        FromGrpc(connection_->stub().RegisterWorker(context.get(), registration_, &response), "RegisterWorker");
    if (status.ok()) {
      absl::MutexLock lock(&mu_);
      worker_name_ = response.worker();
      heartbeat_interval_ =
          response.has_heartbeat_interval()
              ? absl::Seconds(response.heartbeat_interval().seconds()) +
                    absl::Nanoseconds(response.heartbeat_interval().nanos())
              : absl::Seconds(10);
      FTD_LOG(INFO) << "registered as " << worker_name_ << " with " << options_.coordinator.address;
      if (options_.metrics != nullptr) options_.metrics->Registered(registration_.gpus_size());
      return absl::OkStatus();
    }
    // ALREADY_EXISTS: this instance's previous registration (a crashed run) still holds its lease; it runs out.
    if (!Retryable(status) && !absl::IsAlreadyExists(status)) return status;
    FTD_LOG(WARNING) << status << "; retrying";
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(kRetryPause));
  }
  return absl::OkStatus();
}

absl::Status WorkerAgent::Run() {
  RETURN_IF_ERROR(Register());
  watch_thread_ = std::thread([this] { WatchLoop(); });
  report_thread_ = std::thread([this] { ReportLoop(); });
  while (!stopping_.load()) {
    v1::HeartbeatRequest request;
    absl::Duration interval;
    {
      absl::MutexLock lock(&mu_);
      request.set_worker(worker_name_);
      interval = heartbeat_interval_;
      for (const auto& [key, rank] : ranks_) {
        if (!rank->finished()) *request.add_ranks() = rank->Status();
      }
    }
    if (options_.metrics != nullptr) options_.metrics->FlushBusy();
    v1::HeartbeatResponse response;
    const auto context = connection_->NewContext(kCallTimeout);
    const absl::Status status =
        FromGrpc(connection_->stub().Heartbeat(context.get(), request, &response), "Heartbeat");
    if ((status.ok() && !response.lease_valid()) || absl::IsNotFound(status)) {
      FTD_LOG(WARNING) << "lost the lease of " << request.worker() << "; aborting its ranks and registering again";
      if (options_.metrics != nullptr) options_.metrics->LeaseLost();
      AbortAll("the worker lost its lease");
      {
        absl::MutexLock lock(&mu_);
        if (watch_context_ != nullptr) watch_context_->TryCancel();
      }
      if (absl::Status registered = Register(); !registered.ok()) {
        Stop();
        return registered;
      }
      continue;
    }
    if (!status.ok()) FTD_LOG(WARNING) << status << "; will retry";
    if (status.ok() && options_.metrics != nullptr) {
      options_.metrics->HeartbeatAccepted(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
    }
    ReapFinished();
    if (draining_.load()) {
      bool running = false;
      {
        absl::MutexLock lock(&mu_);
        for (const auto& [key, rank] : ranks_) running = running || !rank->finished();
      }
      if (!running) {
        FTD_LOG(INFO) << "drained: no rank runs; stopping";
        Stop();
        break;
      }
    }
    absl::SleepFor(interval);
  }
  return absl::OkStatus();
}

void WorkerAgent::WatchLoop() {
  while (!stopping_.load()) {
    grpc::ClientContext context;  // The channel adds the token.
    v1::WatchAssignmentsRequest request;
    {
      absl::MutexLock lock(&mu_);
      request.set_worker(worker_name_);
      watch_context_ = &context;
    }
    if (stopping_.load()) context.TryCancel();
    std::unique_ptr<grpc::ClientReader<v1::WorkerCommand>> reader =
        connection_->stub().WatchAssignments(&context, request);
    v1::WorkerCommand command;
    while (reader->Read(&command)) Handle(command);
    const absl::Status status = FromGrpc(reader->Finish(), "WatchAssignments");
    {
      absl::MutexLock lock(&mu_);
      watch_context_ = nullptr;
    }
    if (stopping_.load()) return;
    FTD_LOG(INFO) << "assignments stream ended (" << status << "); reconnecting";
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(kRetryPause));
  }
}

void WorkerAgent::ReportLoop() {
  while (!stopping_.load()) {
    std::vector<std::shared_ptr<RankRun>> ranks;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [key, rank] : ranks_) {
        if (!rank->finished()) ranks.push_back(rank);
      }
    }
    for (const std::shared_ptr<RankRun>& rank : ranks) rank->Flush();
    absl::SleepFor(options_.report_interval);
  }
}

void WorkerAgent::Handle(const v1::WorkerCommand& command) {
  if (command.has_run_rank()) {
    StartRank(command.run_rank());
  } else if (command.has_abort_rank()) {
    AbortRank(command.abort_rank());
  } else if (command.has_stop()) {
    FTD_LOG(INFO) << "the coordinator asked this worker to stop (" << v1::StopMode_Name(command.stop().mode())
                  << "): " << command.stop().reason();
    if (command.stop().mode() == v1::STOP_MODE_IMMEDIATE) {
      AbortAll("the worker was stopped: " + command.stop().reason());
      Stop();
    } else {
      draining_.store(true);  // Run stops once no rank runs.
    }
  }
}

void WorkerAgent::StartRank(const v1::RunRank& run) {
  if (run.task() != v1::RANK_TASK_TRAIN && run.task() != v1::RANK_TASK_EVALUATE) {
    FTD_LOG(WARNING) << "ignoring a rank of " << run.job() << " with task " << v1::RankTask_Name(run.task());
    return;
  }
  if (draining_.load()) {
    FTD_LOG(WARNING) << "draining: not starting rank " << run.rank() << " of " << run.job();
    return;
  }
  const int phase = run.task() == v1::RANK_TASK_EVALUATE ? static_cast<int>(run.eval_role()) : 0;
  const auto key = std::make_tuple(run.job(), run.attempt(), run.rank(), phase);
  std::vector<std::shared_ptr<RankRun>> older;
  std::string worker_name;
  {
    absl::MutexLock lock(&mu_);
    if (ranks_.contains(key)) return;  // Already running or ran: a replay after a reconnect.
    for (const auto& [other_key, rank] : ranks_) {
      if (std::get<0>(other_key) == run.job() && std::get<1>(other_key) < run.attempt()) older.push_back(rank);
    }
    worker_name = worker_name_;
  }
  // An older attempt of the same job may still be dying on this worker: it must be gone first.
  for (const std::shared_ptr<RankRun>& rank : older) {
    rank->Abort("superseded by attempt " + std::to_string(run.attempt()));
    rank->Join();
  }
  auto rank = std::make_shared<RankRun>(run, options_, *connection_, worker_name, stopping_);
  {
    absl::MutexLock lock(&mu_);
    if (!ranks_.emplace(key, rank).second) return;
  }
  FTD_LOG(INFO) << "starting rank " << run.rank() << "/" << run.world_size() << " of " << run.job() << " attempt "
                << run.attempt() << (run.resume_checkpoint().empty() ? "" : " resuming from ")
                << run.resume_checkpoint();
  rank->Start();
}

void WorkerAgent::AbortRank(const v1::AbortRank& abort) {
  std::vector<std::shared_ptr<RankRun>> matching;  // The rank in every phase (training, evaluation).
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, rank] : ranks_) {
      if (std::get<0>(key) == abort.job() && std::get<1>(key) == abort.attempt() && std::get<2>(key) == abort.rank()) {
        matching.push_back(rank);
      }
    }
  }
  for (const std::shared_ptr<RankRun>& rank : matching) rank->Abort(abort.reason());
}

void WorkerAgent::AbortAll(const std::string& reason) {
  std::vector<std::shared_ptr<RankRun>> ranks;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, rank] : ranks_) ranks.push_back(rank);
  }
  for (const std::shared_ptr<RankRun>& rank : ranks) rank->Abort(reason);
}

void WorkerAgent::ReapFinished() {
  // Finished ranks are kept (a replayed RunRank must stay a no-op) but their threads are joined; entries of older
  // attempts of a job are dropped once a newer attempt of it exists.
  std::vector<std::shared_ptr<RankRun>> finished;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = ranks_.begin(); it != ranks_.end(); ++it) {
      if (it->second->finished()) finished.push_back(it->second);
    }
  }
  for (const std::shared_ptr<RankRun>& rank : finished) rank->Join();
}

}  // namespace ftd
