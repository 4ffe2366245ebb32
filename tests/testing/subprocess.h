// Child processes for multi-process tests (ranks, rendezvous): Spawn runs a function in a forked child whose
// return value is its exit code, SpawnCommand runs a program (ftd-worker) with its output in files, ExitCode waits
// for either. The child must report through its exit code only (no
// gtest assertions: they would not reach the parent).
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

namespace ftd {

inline pid_t Spawn(const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  return pid;
}

// Runs argv[0] with argv in a child, stdout and stderr appended to the given files.
inline pid_t SpawnCommand(const std::vector<std::string>& argv, const std::string& stdout_path,
                          const std::string& stderr_path) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int out = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

// The child's exit code; -1 when it did not exit normally (killed by a signal) or cannot be waited for.
inline int ExitCode(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

}  // namespace ftd
