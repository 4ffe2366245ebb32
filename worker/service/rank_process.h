// RankProcess: one rank as a child process (`ftd-worker train ...`), its stdout and stderr read line by line, killed
// with its whole process group on abort, and killed by the kernel if the worker itself dies (PR_SET_PDEATHSIG), so
// no rank outlives the worker that was answerable for it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace ftd {

enum class OutputStream { kStdout, kStderr };

struct RankProcessOptions {
  std::vector<std::string> argv;       // argv[0] is the executable's path.
  std::vector<std::string> extra_env;  // "NAME=value" added to this process's environment.
  // Called from the reader threads (one per stream) for every line, without its newline.
  std::function<void(OutputStream, const std::string& line)> on_line;
};

struct RankExit {
  int exit_code = -1;  // When it exited; -1 when a signal ended it.
  int signal = 0;      // The signal that ended it; 0 when it exited.
  bool ok() const { return exit_code == 0; }
};

// Lifecycle: Start, then Wait exactly once from the thread that called Start (the parent-death signal follows the
// starting thread), Kill from any thread at any time.
class RankProcess {
 public:
  static absl::StatusOr<std::unique_ptr<RankProcess>> Start(RankProcessOptions options);
  ~RankProcess();
  RankProcess(const RankProcess&) = delete;
  RankProcess& operator=(const RankProcess&) = delete;

  // SIGKILL to the child's process group. Safe after it exited (then nothing happens).
  void Kill();
  // Blocks until the child exited and both streams are drained.
  RankExit Wait();
  int pid() const { return pid_; }

 private:
  RankProcess(int pid, int out_fd, int err_fd, std::function<void(OutputStream, const std::string&)> on_line);

  int pid_;
  absl::Mutex mu_;
  bool reaped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread out_reader_;
  std::thread err_reader_;
};

}  // namespace ftd
