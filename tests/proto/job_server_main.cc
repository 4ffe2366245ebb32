// ftd_test_job_server: the in-memory JobService as a process, for clients in other languages (the Python
// client test). Prints the port it bound on 127.0.0.1 as its first stdout line; serves until stdin closes,
// SIGTERM or SIGINT, then shuts down cleanly and exits 0.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "absl/status/status.h"
#include "tests/proto/in_memory_job_service.h"
#include "tests/proto/local_server.h"

namespace ftd {
namespace {

// Blocks until stdin reaches EOF or a termination signal arrives. One poll() over stdin and a signalfd keeps
// this single-threaded: no watcher thread left blocked in read() at exit.
absl::Status WaitForStop(int signal_fd) {
  char buffer[256];
  while (true) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "poll");
    }
    if (fds[1].revents & POLLIN) return absl::OkStatus();
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = read(STDIN_FILENO, buffer, sizeof(buffer));  // Input is ignored, only EOF matters.
      if (n == 0) return absl::OkStatus();
      if (n < 0 && errno != EINTR && errno != EAGAIN) return absl::ErrnoToStatus(errno, "read(stdin)");
    }
  }
}

int Run() {
  // Block the signals before gRPC starts its threads, so they inherit the mask and only the signalfd sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) return 1;
  const int signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::perror("signalfd");
    return 1;
  }

  InMemoryJobService service;
  absl::StatusOr<LocalServer> server = StartLocalServer(&service);
  if (!server.ok()) {
    std::fprintf(stderr, "ftd_test_job_server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("%d\n", server->port);
  std::fflush(stdout);

  const absl::Status stop = WaitForStop(signal_fd);
  service.Shutdown();
  server->server->Shutdown();
  close(signal_fd);
  if (!stop.ok()) {
    std::fprintf(stderr, "ftd_test_job_server: %s\n", stop.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace ftd

int main() { return ftd::Run(); }
