// All-reduce over Gloo/TCP on loopback, nccl-tests style (issue 5): N ranks (forked processes meeting through a
// file rendezvous store) all-reduce fp32 buffers from 4 KiB to 256 MiB; rank 0 prints per size the bytes, the
// element count, the median time, algbw = bytes / time, busbw = algbw * 2 (n - 1) / n, and #wrong (elements that
// differ from the exact expected sum). A memcpy row gives the machine's copy bandwidth for scale.
//
//   build/bench/allreduce [--ranks 2] [--min-bytes 4096] [--max-bytes 268435456] [--iters 5]
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "worker/collective/gloo_collective.h"

namespace ftd {
namespace {

struct Options {
  int ranks = 2;
  int64_t min_bytes = 4096;
  int64_t max_bytes = int64_t{256} << 20;
  int iters = 5;
};

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Copy bandwidth of this machine at the largest size (GB/s, bytes copied per second).
double MemcpyBandwidth(int64_t bytes) {
  std::vector<char> a(static_cast<size_t>(bytes), 1), b(static_cast<size_t>(bytes), 0);
  std::vector<double> t;
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    std::memcpy(b.data(), a.data(), a.size());
    t.push_back(Seconds(start));
  }
  return static_cast<double>(bytes) / Median(t) / 1e9;
}

int RunRank(const Options& o, int rank, const std::string& store_dir) {
  absl::StatusOr<std::unique_ptr<RendezvousStore>> store = OpenRendezvousStore("file:" + store_dir);
  if (!store.ok()) return 90;
  GlooOptions gloo;
  gloo.rank = rank;
  gloo.world_size = o.ranks;
  gloo.prefix = "bench/";
  absl::StatusOr<std::unique_ptr<Collective>> c = ConnectGloo(gloo, **store);
  if (!c.ok()) {
    std::fprintf(stderr, "rank %d: %s\n", rank, std::string(c.status().message()).c_str());
    return 91;
  }
  if (rank == 0) {
    std::printf("# ranks %d, Gloo TCP over loopback, fp32 sum, median of %d\n", o.ranks, o.iters);
    std::printf("%12s %12s %10s %10s %10s %7s\n", "bytes", "count", "time(us)", "algbw", "busbw", "#wrong");
  }
  for (int64_t bytes = o.min_bytes; bytes <= o.max_bytes; bytes *= 4) {
    const int64_t count = bytes / 4;
    std::vector<float> x(static_cast<size_t>(count));
    std::vector<double> times;
    int64_t wrong = 0;
    for (int it = 0; it < o.iters + 1; ++it) {
      // Small integers, exact in fp32 whatever the summation order: rank + (i % 7).
      for (int64_t i = 0; i < count; ++i) x[i] = static_cast<float>(rank + i % 7);
      if (!(*c)->Barrier(absl::Seconds(60)).ok()) return 92;
      const auto start = std::chrono::steady_clock::now();
      if (!(*c)->AllReduce(x.data(), count, ReduceOp::kSum, absl::Seconds(120)).ok()) return 93;
      const double t = Seconds(start);
      if (it > 0) times.push_back(t);  // the first is a warm-up
      wrong = 0;
      const float ranks_sum = static_cast<float>(o.ranks * (o.ranks - 1) / 2);
      for (int64_t i = 0; i < count; ++i) {
        wrong += x[i] != ranks_sum + static_cast<float>(o.ranks) * static_cast<float>(i % 7);
      }
    }
    const double t = Median(times);
    const double algbw = static_cast<double>(bytes) / t / 1e9;
    const double busbw = algbw * 2.0 * (o.ranks - 1) / o.ranks;
    if (rank == 0) {
      std::printf("%12lld %12lld %10.1f %10.3f %10.3f %7lld\n", static_cast<long long>(bytes),
                  static_cast<long long>(count), t * 1e6, algbw, busbw, static_cast<long long>(wrong));
      std::fflush(stdout);
    }
    if (wrong != 0) return 94;
  }
  return 0;
}

}  // namespace
}  // namespace ftd

int main(int argc, char** argv) {
  ftd::Options o;
  CLI::App app{"Gloo all-reduce over loopback, nccl-tests style"};
  app.add_option("--ranks", o.ranks, "processes")->check(CLI::Range(2, 64));
  app.add_option("--min-bytes", o.min_bytes, "smallest buffer")->check(CLI::Range(int64_t{4}, int64_t{1} << 34));
  app.add_option("--max-bytes", o.max_bytes, "largest buffer")->check(CLI::Range(int64_t{4}, int64_t{1} << 34));
  app.add_option("--iters", o.iters, "timed iterations per size")->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  char dir[] = "/tmp/ftd-allreduce-XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  std::vector<pid_t> pids;
  for (int rank = 0; rank < o.ranks; ++rank) {
    const pid_t pid = fork();
    if (pid == 0) _exit(ftd::RunRank(o, rank, dir));
    pids.push_back(pid);
  }
  int failed = 0;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
  }
  std::filesystem::remove_all(dir);
  std::printf("# memcpy %lld bytes: %.2f GB/s\n", static_cast<long long>(o.max_bytes),
              ftd::MemcpyBandwidth(o.max_bytes));
  return failed;
}
