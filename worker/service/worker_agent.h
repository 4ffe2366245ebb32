// WorkerAgent: `ftd-worker serve`: registers this process's devices with the coordinator, keeps its lease with
// heartbeats, follows the assignments stream, runs each assigned rank as a child `ftd-worker train` process, and
// forwards what the rank does: metrics and logs (ReportMetrics), rank 0's checkpoints and final result
// (PutCheckpoint), and its end (done, early stop, failure with its status code). Abort commands kill the rank. An
// EVALUATE rank runs the job's benchmarks one `ftd-worker eval` child each on the tuned model (the base model plus
// the downloaded final result) or the base model, and reports the BenchmarkResults with its DONE.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ftd/v1/worker_service.pb.h"
#include "worker/service/coordinator_connection.h"

namespace ftd {

class WorkerMetrics;

struct WorkerAgentOptions {
  CoordinatorConnectionOptions coordinator;
  // Each rank runs in <work_dir>/jobs/<job>/attempt-<A>/rank-<R> (spec.yaml, output/, checkpoints/, error.json).
  std::string work_dir;
  // The ftd-worker binary that runs ranks (`train`): normally this executable.
  std::string worker_binary;
  std::string host;               // Empty: gethostname().
  std::string advertise_address;  // Empty: the address the coordinator sees.
  // The GPU this process drives (process-per-GPU), registered as its one slot; none: a CPU worker.
  std::vector<ftd::v1::GpuDevice> gpus;
  bool cuda_compiled_in = false;
  int cpu_cores = 1;
  int64_t memory_bytes = 0;       // 0: the machine's physical memory.
  std::map<std::string, std::string> labels;
  // How often buffered metrics and logs are sent.
  absl::Duration report_interval = absl::Seconds(1);
  // Bound on each collective call of a rank: a lost peer fails the rank (RANK_LOST) this soon.
  double collective_timeout_s = 60;
  double peak_flops = 0;  // The device's peak FLOP/s for the ranks' MFU (`train --peak-flops`); 0: the backend's.
  std::string version;  // ftd version reported at registration.
  // Where ranks, reports and uploads are counted (worker_metrics.h); null: nowhere. Must outlive the agent.
  WorkerMetrics* metrics = nullptr;
};

class RankRun;
class WorkerMetrics;

// Lifecycle: Create, Run (blocks) on one thread, Stop from any thread (e.g. a signal watcher) makes Run abort the
// running ranks and return. Threading: Run's thread heartbeats and (re)registers; one thread reads the assignments
// stream; one thread per rank supervises its child process; one thread sends buffered reports.
class WorkerAgent {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerAgent>> Create(WorkerAgentOptions options);
  ~WorkerAgent();
  WorkerAgent(const WorkerAgent&) = delete;
  WorkerAgent& operator=(const WorkerAgent&) = delete;

  // Returns OK after Stop or a StopWorker command (IMMEDIATE: running ranks are aborted; DRAIN: no new ranks are
  // taken and Run returns once the running ones have ended); an error when the coordinator refuses the registration
  // (INVALID_ARGUMENT, FAILED_PRECONDITION, UNAUTHENTICATED, PERMISSION_DENIED): retrying would not help.
  absl::Status Run();
  void Stop();

  // The worker's resource name once registered ("workers/w-3"); empty before.
  std::string worker_name() const;

 private:
  explicit WorkerAgent(WorkerAgentOptions options, std::unique_ptr<CoordinatorConnection> connection);

  absl::Status Register();
  void WatchLoop();
  void ReportLoop();
  void Handle(const ftd::v1::WorkerCommand& command);
  void StartRank(const ftd::v1::RunRank& run);
  void AbortRank(const ftd::v1::AbortRank& abort);
  void AbortAll(const std::string& reason);
  // Joins and forgets ranks whose thread has finished.
  void ReapFinished();

  const WorkerAgentOptions options_;
  std::unique_ptr<CoordinatorConnection> connection_;
  ftd::v1::RegisterWorkerRequest registration_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> draining_{false};  // StopWorker DRAIN: no new ranks; stop once none runs.
  mutable absl::Mutex mu_;
  std::string worker_name_ ABSL_GUARDED_BY(mu_);
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_) = absl::Seconds(10);
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  // (job, attempt, rank, phase: 0 training, else the EvaluationRole an EVALUATE rank scores) -> the rank's
  // supervisor. Finished ranks stay, so a replayed RunRank is a no-op.
  std::map<std::tuple<std::string, int32_t, int32_t, int>, std::shared_ptr<RankRun>> ranks_ ABSL_GUARDED_BY(mu_);
  std::thread watch_thread_;
  std::thread report_thread_;
};

}  // namespace ftd
