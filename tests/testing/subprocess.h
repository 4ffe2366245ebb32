// Child processes for multi-process tests (ranks, rendezvous): Spawn runs a function in a forked child whose
// return value is its exit code, ExitCode waits for it. The child must report through its exit code only (no
// gtest assertions: they would not reach the parent).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <functional>

namespace ftd {

inline pid_t Spawn(const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  return pid;
}

// The child's exit code; -1 when it did not exit normally (killed by a signal) or cannot be waited for.
inline int ExitCode(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

}  // namespace ftd
