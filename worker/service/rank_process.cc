// RankProcess: fork/exec with piped output, a process group of its own and a parent-death signal.
#include "worker/service/rank_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace ftd {
namespace {

// Reads `fd` to its end, calling on_line per line (a last line without newline included), then closes it.
void ReadLines(int fd, OutputStream stream, const std::function<void(OutputStream, const std::string&)>& on_line) {
  std::string pending;
  char buffer[8192];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t newline; (newline = pending.find('\n', start)) != std::string::npos; start = newline + 1) {
      if (on_line) on_line(stream, pending.substr(start, newline - start));
    }
    pending.erase(0, start);
  }
  if (!pending.empty() && on_line) on_line(stream, pending);
  close(fd);
}

}  // namespace

RankProcess::RankProcess(int pid, int out_fd, int err_fd,
                         std::function<void(OutputStream, const std::string&)> on_line)
    : pid_(pid),
      out_reader_([out_fd, on_line] { ReadLines(out_fd, OutputStream::kStdout, on_line); }),
      err_reader_([err_fd, on_line] { ReadLines(err_fd, OutputStream::kStderr, on_line); }) {}

absl::StatusOr<std::unique_ptr<RankProcess>> RankProcess::Start(RankProcessOptions options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("no command to run");
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<char*> argv;
  for (std::string& arg : options.argv) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  for (const std::string& e : options.extra_env) env_storage.push_back(e);
  std::vector<char*> envp;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    return absl::ResourceExhaustedError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // A rank whose peer died must see EPIPE from its socket write (Gloo turns it into an error the coordinator
    // classifies as a lost rank), not die of SIGPIPE. The disposition survives exec.
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, nullptr);
    if (getppid() != parent) _exit(127);  // The worker died before the signal was armed.
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    const char message[] = "ftd-worker serve: exec of the rank process failed\n";
    [[maybe_unused]] const ssize_t ignored = write(STDERR_FILENO, message, sizeof(message) - 1);
    _exit(127);
  }
  setpgid(pid, pid);  // Also from the parent, so Kill works even before the child ran setpgid.
  close(out_pipe[1]);
  close(err_pipe[1]);
  return std::unique_ptr<RankProcess>(new RankProcess(pid, out_pipe[0], err_pipe[0], std::move(options.on_line)));
}

RankProcess::~RankProcess() {
  bool reaped;
  {
    absl::MutexLock lock(&mu_);
    reaped = reaped_;
  }
  if (!reaped) {
    Kill();
    Wait();
  }
}

void RankProcess::Kill() {
  absl::MutexLock lock(&mu_);
  if (reaped_) return;  // The pid may belong to someone else by now.
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
}

RankExit RankProcess::Wait() {
  // Wait for the exit without reaping: the zombie keeps the pid (and the group id) from being reused while the
  // group is killed, so grandchildren holding the pipes open cannot block the readers.
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  kill(-pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  {
    absl::MutexLock lock(&mu_);
    reaped_ = true;
  }
  if (out_reader_.joinable()) out_reader_.join();
  if (err_reader_.joinable()) err_reader_.join();
  RankExit exit;
  if (WIFEXITED(status)) exit.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
  return exit;
}

}  // namespace ftd
