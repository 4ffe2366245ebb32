// The NCCL collective. Everywhere: bad options are INVALID_ARGUMENT before any CUDA call, and a machine without the
// device is FAILED_PRECONDITION. With a GPU: a world of one all-reduces (sum, mean; fp32, bf16), broadcasts and
// passes barriers with exact values; bad buffers are refused without breaking the endpoint; a rank whose peer never
// comes is a DEADLINE_EXCEEDED within the connect timeout, not a hang. With two GPUs (NCCL refuses two ranks of one
// communicator on one GPU): two processes sum across ranks, and a killed peer fails the survivor within the timeout.
// Without a GPU the GPU cases skip, saying "no CUDA device: ...".
#include "worker/collective/nccl_collective.h"

#include <cuda_runtime.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "model/dtype.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

extern char** environ;

namespace ftd {
namespace {

constexpr absl::Duration kOpTimeout = absl::Seconds(20);

// How many CUDA devices this machine has; `why_none` says why when there are none.
int GpuCount(std::string* why_none) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    (void)cudaGetLastError();
    *why_none = absl::StrCat(cudaGetErrorName(error), " (", cudaGetErrorString(error), ")");
    return 0;
  }
  if (count == 0) *why_none = "the CUDA driver reports none";
  return count;
}

std::unique_ptr<RendezvousStore> OpenStore(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<RendezvousStore>> store = OpenRendezvousStore("file:" + dir);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// A device copy of a host vector (synchronised: the collective's own stream is not ordered after this copy).
template <typename T>
class DeviceVector {
 public:
  explicit DeviceVector(const std::vector<T>& host) : size_(host.size()) {
    EXPECT_EQ(cudaMalloc(&data_, bytes()), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(data_, host.data(), bytes(), cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  ~DeviceVector() { (void)cudaFree(data_); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;

  T* data() { return data_; }
  int64_t size() const { return static_cast<int64_t>(size_); }
  std::vector<T> Read() const {
    std::vector<T> host(size_);
    EXPECT_EQ(cudaMemcpy(host.data(), data_, bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }

 private:
  size_t bytes() const { return size_ * sizeof(T); }
  T* data_ = nullptr;
  size_t size_ = 0;
};

// --- Everywhere: options are checked before the machine is. ---

TEST(NcclCollectiveOptionsTest, BadOptionsAreInvalidBeforeAnyCudaCall) {
  TempDir tmp;
  std::unique_ptr<RendezvousStore> store = OpenStore(tmp.path());
  ASSERT_NE(store, nullptr);
  struct Case {
    int rank, world_size, device;
    absl::Duration timeout;
    std::string message;
  };
  const Case cases[] = {
      {2, 2, 0, absl::Seconds(1), "nccl: rank 2 outside a world of 2"},
      {-1, 2, 0, absl::Seconds(1), "nccl: rank -1 outside a world of 2"},
      {0, 0, 0, absl::Seconds(1), "nccl: rank 0 outside a world of 0"},
      {0, 1, -1, absl::Seconds(1), "nccl: CUDA device -1 < 0"},
      {0, 1, 0, absl::ZeroDuration(), "nccl: connect_timeout 0 is not positive"},
  };
  for (const Case& c : cases) {
    NcclOptions options;
    options.rank = c.rank;
    options.world_size = c.world_size;
    options.device = c.device;
    options.connect_timeout = c.timeout;
    const absl::Status status = ConnectNccl(options, *store).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_EQ(status.message(), c.message);
  }
  // Nothing was published: the checks came before the rendezvous.
  EXPECT_FALSE(std::filesystem::exists(tmp.file("nccl_unique_id")));
}

TEST(NcclCollectiveOptionsTest, AMissingDeviceIsAFailedPrecondition) {
  TempDir tmp;
  std::unique_ptr<RendezvousStore> store = OpenStore(tmp.path());
  ASSERT_NE(store, nullptr);
  NcclOptions options;
  options.device = 1000;  // No machine has it; one without any GPU says so instead.
  options.connect_timeout = absl::Seconds(1);
  const absl::Status status = ConnectNccl(options, *store).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  std::string why_none;
  if (GpuCount(&why_none) == 0) {
    EXPECT_TRUE(absl::StartsWith(status.message(), "no CUDA device: ")) << status;
  } else {
    EXPECT_TRUE(absl::StrContains(status.message(), "CUDA device 1000 not present")) << status;
  }
}

// --- One GPU: a world of one, and a rank left alone. ---

class NcclCollectiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why_none;
    if (GpuCount(&why_none) == 0) GTEST_SKIP() << "no CUDA device: " << why_none;
  }

  // Rank 0 of a world of one on device 0.
  std::unique_ptr<Collective> ConnectAlone() {
    std::unique_ptr<RendezvousStore> store = OpenStore(tmp_.path());
    if (store == nullptr) return nullptr;
    NcclOptions options;
    options.prefix = "job1/";
    options.connect_timeout = absl::Seconds(30);
    absl::StatusOr<std::unique_ptr<Collective>> collective = ConnectNccl(options, *store);
    EXPECT_TRUE(collective.ok()) << collective.status();
    return collective.ok() ? *std::move(collective) : nullptr;
  }

  TempDir tmp_;
};

TEST_F(NcclCollectiveTest, AWorldOfOneAllReducesExactly) {
  std::unique_ptr<Collective> c = ConnectAlone();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->world_size(), 1);
  // Values that need every bit: the sum and the mean over one rank give them back unchanged.
  std::vector<float> x((1 << 20) + 3);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i)) * 1000.0f + 1e-3f;
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg}) {
    DeviceVector<float> d(x);
    ASSERT_TRUE(c->AllReduce(d.data(), d.size(), op, kOpTimeout).ok());
    EXPECT_EQ(d.Read(), x);
  }
  std::vector<uint16_t> y(70001);
  for (size_t i = 0; i < y.size(); ++i) y[i] = F32ToBf16(std::cos(static_cast<float>(i)) * 3.0f);
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg}) {
    DeviceVector<uint16_t> d(y);
    ASSERT_TRUE(c->AllReduceBf16(d.data(), d.size(), op, kOpTimeout).ok());
    EXPECT_EQ(d.Read(), y);
  }
}

TEST_F(NcclCollectiveTest, AWorldOfOneBroadcastsAndPassesBarriers) {
  std::unique_ptr<Collective> c = ConnectAlone();
  ASSERT_NE(c, nullptr);
  std::vector<float> x(4099);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 0.25f - 7.0f;
  DeviceVector<float> d(x);
  ASSERT_TRUE(c->Broadcast(d.data(), d.size(), 0, kOpTimeout).ok());
  EXPECT_EQ(d.Read(), x);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(c->Barrier(kOpTimeout).ok());
}

TEST_F(NcclCollectiveTest, BadBuffersAreRefusedAndLeaveTheEndpointUsable) {
  std::unique_ptr<Collective> c = ConnectAlone();
  ASSERT_NE(c, nullptr);
  std::vector<float> host(16, 1.0f);
  std::vector<uint16_t> host_bf16(16, F32ToBf16(1.0f));
  DeviceVector<float> d(host);
  auto invalid = [](const absl::Status& status) { return status.code() == absl::StatusCode::kInvalidArgument; };
  EXPECT_TRUE(invalid(c->AllReduce(d.data(), -1, ReduceOp::kSum, kOpTimeout)));
  EXPECT_TRUE(invalid(c->AllReduce(nullptr, 4, ReduceOp::kSum, kOpTimeout)));
  EXPECT_TRUE(invalid(c->AllReduceBf16(nullptr, 4, ReduceOp::kAvg, kOpTimeout)));
  EXPECT_TRUE(invalid(c->Broadcast(d.data(), 16, 1, kOpTimeout)));
  EXPECT_TRUE(invalid(c->Broadcast(d.data(), 16, -1, kOpTimeout)));
  EXPECT_TRUE(invalid(c->Broadcast(d.data(), -2, 0, kOpTimeout)));
  // Host memory: NCCL would fault the device on it.
  const absl::Status on_host = c->AllReduce(host.data(), 16, ReduceOp::kSum, kOpTimeout);
  EXPECT_TRUE(invalid(on_host)) << on_host;
  EXPECT_TRUE(absl::StrContains(on_host.message(), "not device memory")) << on_host;
  EXPECT_TRUE(invalid(c->AllReduceBf16(host_bf16.data(), 16, ReduceOp::kSum, kOpTimeout)));
  EXPECT_TRUE(invalid(c->Broadcast(host.data(), 16, 0, kOpTimeout)));
  // Nothing to do is not an error, even without a buffer.
  EXPECT_TRUE(c->AllReduce(nullptr, 0, ReduceOp::kSum, kOpTimeout).ok());
  // None of that broke the endpoint.
  EXPECT_TRUE(c->AllReduce(d.data(), 16, ReduceOp::kSum, kOpTimeout).ok());
  EXPECT_EQ(d.Read(), host);
  EXPECT_TRUE(c->Barrier(kOpTimeout).ok());
}

TEST_F(NcclCollectiveTest, ALoneRankIsADeadlineNotAHang) {
  std::unique_ptr<RendezvousStore> store = OpenStore(tmp_.path());
  ASSERT_NE(store, nullptr);
  // Rank 0 of 2 publishes the id and starts the communicator; rank 1 never comes.
  NcclOptions options;
  options.rank = 0;
  options.world_size = 2;
  options.prefix = "lonely/";
  options.connect_timeout = absl::Seconds(3);
  const absl::Time start = absl::Now();
  const absl::Status status = ConnectNccl(options, *store).status();
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "waiting for all 2 ranks to join")) << status;
  // The bound of the contract, not a speed claim: the timeout plus the abort, far from a hang.
  EXPECT_LT(took, options.connect_timeout + absl::Seconds(20)) << took;

  // Rank 1 of 2 whose rank 0 never publishes: the store's wait names the key.
  options.rank = 1;
  options.prefix = "orphan/";
  options.connect_timeout = absl::Milliseconds(300);
  const absl::Status orphan = ConnectNccl(options, *store).status();
  EXPECT_EQ(orphan.code(), absl::StatusCode::kDeadlineExceeded) << orphan;
  EXPECT_TRUE(absl::StrContains(orphan.message(), "orphan/nccl_unique_id")) << orphan;
}

// --- Two GPUs: real ranks in separate processes. ---

constexpr char kRankEnv[] = "FTD_NCCL_TEST_RANK";
constexpr char kScenarioEnv[] = "FTD_NCCL_TEST_SCENARIO";
constexpr char kDirEnv[] = "FTD_NCCL_TEST_DIR";
constexpr int kTwoRanks = 2;

// Starts this test binary again as rank `rank`, running only NcclCollectiveRankProcess.DISABLED_Run. A fresh
// process rather than a fork: CUDA does not survive a fork once the parent has initialised it (these tests query
// the devices first). Everything the child needs is built before the fork; the child only calls execve.
pid_t SpawnRank(const std::string& scenario, int rank, const std::string& dir) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    // The parent's gtest settings (filter, XML output) are not the child's.
    if (!absl::StartsWith(*e, "GTEST_") && !absl::StartsWith(*e, "FTD_NCCL_TEST_")) env.emplace_back(*e);
  }
  env.push_back(absl::StrCat(kRankEnv, "=", rank));
  env.push_back(absl::StrCat(kScenarioEnv, "=", scenario));
  env.push_back(absl::StrCat(kDirEnv, "=", dir));
  std::vector<std::string> args = {"/proc/self/exe", "--gtest_filter=NcclCollectiveRankProcess.DISABLED_Run",
                                   "--gtest_also_run_disabled_tests"};
  std::vector<char*> envp, argv;
  for (std::string& s : env) envp.push_back(s.data());
  for (std::string& s : args) argv.push_back(s.data());
  envp.push_back(nullptr);
  argv.push_back(nullptr);
  return Spawn([&] {
    execve("/proc/self/exe", argv.data(), envp.data());
    return 127;
  });
}

// Each rank's exit code (-1: killed by a signal; -2: hung, killed here), SIGKILLing any rank still running at `limit`, so that a hung
// rank fails the test instead of outliving it.
std::vector<int> WaitRanks(const std::vector<pid_t>& pids, absl::Duration limit) {
  const absl::Time deadline = absl::Now() + limit;
  std::vector<int> codes(pids.size(), -2);  // -2 until a rank exits
  std::vector<bool> done(pids.size(), false);
  size_t left = pids.size();
  while (left > 0) {
    for (size_t i = 0; i < pids.size(); ++i) {
      int status = 0;
      if (done[i] || waitpid(pids[i], &status, WNOHANG) != pids[i]) continue;
      done[i] = true;
      --left;
      codes[i] = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (left > 0 && absl::Now() >= deadline) {
      for (size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) {
          ADD_FAILURE() << "rank " << i << " still running after " << limit << ": killed";
          kill(pids[i], SIGKILL);
          (void)ExitCode(pids[i]);  // Reap it.
          codes[i] = -2;
          done[i] = true;
        }
      }
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return codes;
}

std::string PassedMarker(const std::string& dir, int rank) { return absl::StrCat(dir, "/rank", rank, ".passed"); }

class NcclCollectiveTwoGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why_none;
    const int count = GpuCount(&why_none);
    if (count == 0) GTEST_SKIP() << "no CUDA device: " << why_none;
    if (count < kTwoRanks) {
      GTEST_SKIP() << "needs " << kTwoRanks << " CUDA devices (NCCL refuses two ranks of one communicator on one "
                   << "GPU); this machine has " << count;
    }
  }

  std::vector<int> RunRanks(const std::string& scenario) {
    std::vector<pid_t> pids;
    for (int rank = 0; rank < kTwoRanks; ++rank) pids.push_back(SpawnRank(scenario, rank, tmp_.path()));
    return WaitRanks(pids, absl::Seconds(25));  // Two such runs fit the 60 s ctest timeout.
  }

  TempDir tmp_;
};

TEST_F(NcclCollectiveTwoGpuTest, TwoProcessesSumAcrossRanks) {
  const std::vector<int> codes = RunRanks("sum");
  for (int rank = 0; rank < kTwoRanks; ++rank) {
    EXPECT_EQ(codes[rank], 0) << "rank " << rank;
    // Exit 0 alone could be a filter that matched nothing.
    EXPECT_TRUE(std::filesystem::exists(PassedMarker(tmp_.path(), rank))) << "rank " << rank;
  }
}

TEST_F(NcclCollectiveTwoGpuTest, AKilledPeerFailsTheOtherRankWithinTheTimeout) {
  const std::vector<int> codes = RunRanks("peer_dies");
  EXPECT_EQ(codes[0], 0);
  EXPECT_TRUE(std::filesystem::exists(PassedMarker(tmp_.path(), 0)));
  EXPECT_EQ(codes[1], -1);  // killed by the signal, as an OOM-killed rank is
}

// The rank side of NcclCollectiveTwoGpuTest: runs only in a child that SpawnRank started (disabled otherwise).
TEST(NcclCollectiveRankProcess, DISABLED_Run) {
  const char* rank_env = std::getenv(kRankEnv);
  const char* scenario_env = std::getenv(kScenarioEnv);
  const char* dir_env = std::getenv(kDirEnv);
  ASSERT_TRUE(rank_env != nullptr && scenario_env != nullptr && dir_env != nullptr)
      << "runs only as a rank started by NcclCollectiveTwoGpuTest";
  const int rank = std::atoi(rank_env);
  const std::string scenario = scenario_env;
  const std::string dir = dir_env;
  std::unique_ptr<RendezvousStore> store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  NcclOptions options;
  options.rank = rank;
  options.world_size = kTwoRanks;
  options.device = rank;
  options.prefix = "job1/";
  options.connect_timeout = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<Collective>> connected = ConnectNccl(options, *store);
  ASSERT_TRUE(connected.ok()) << "rank " << rank << ": " << connected.status();
  Collective& c = **connected;

  if (scenario == "sum") {
    // fp32 sum: rank r contributes r + i * 0.5 at element i; all values and sums are exact in fp32.
    std::vector<float> x(100003);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(rank) + 0.5f * static_cast<float>(i % 1000);
    DeviceVector<float> dx(x);
    ASSERT_TRUE(c.AllReduce(dx.data(), dx.size(), ReduceOp::kSum, kOpTimeout).ok());
    const std::vector<float> sx = dx.Read();
    for (size_t i = 0; i < sx.size(); ++i) ASSERT_EQ(sx[i], 1.0f + 1.0f * static_cast<float>(i % 1000)) << i;
    // fp32 mean of 2r: 1 on every rank, however NCCL orders the scaling.
    DeviceVector<float> dy(std::vector<float>(17, static_cast<float>(2 * rank)));
    ASSERT_TRUE(c.AllReduce(dy.data(), dy.size(), ReduceOp::kAvg, kOpTimeout).ok());
    EXPECT_EQ(dy.Read(), std::vector<float>(17, 1.0f));
    // bf16: small integers are exact, so the bf16-rounded partial sums are too.
    std::vector<uint16_t> b(5000);
    for (size_t i = 0; i < b.size(); ++i) b[i] = F32ToBf16(static_cast<float>(rank + static_cast<int>(i % 13)));
    DeviceVector<uint16_t> db(b);
    ASSERT_TRUE(c.AllReduceBf16(db.data(), db.size(), ReduceOp::kSum, kOpTimeout).ok());
    const std::vector<uint16_t> sb = db.Read();
    for (size_t i = 0; i < sb.size(); ++i) ASSERT_EQ(Bf16ToF32(sb[i]), static_cast<float>(1 + 2 * (i % 13))) << i;
    DeviceVector<uint16_t> dm(std::vector<uint16_t>(7, F32ToBf16(static_cast<float>(2 * rank))));
    ASSERT_TRUE(c.AllReduceBf16(dm.data(), dm.size(), ReduceOp::kAvg, kOpTimeout).ok());
    EXPECT_EQ(dm.Read(), std::vector<uint16_t>(7, F32ToBf16(1.0f)));
    // Broadcast from the last rank.
    DeviceVector<float> dz(std::vector<float>(1000, static_cast<float>(rank * 10)));
    ASSERT_TRUE(c.Broadcast(dz.data(), dz.size(), kTwoRanks - 1, kOpTimeout).ok());
    EXPECT_EQ(dz.Read(), std::vector<float>(1000, 10.0f));
    ASSERT_TRUE(c.Barrier(kOpTimeout).ok());
  } else if (scenario == "peer_dies") {
    DeviceVector<float> dx(std::vector<float>(1 << 16, 1.0f));
    ASSERT_TRUE(c.AllReduce(dx.data(), dx.size(), ReduceOp::kSum, kOpTimeout).ok());
    if (rank == 1) raise(SIGKILL);  // dies without a word, as an OOM-killed rank does
    const absl::Status status = c.AllReduce(dx.data(), dx.size(), ReduceOp::kSum, absl::Seconds(3));
    std::fprintf(stderr, "rank 0 after its peer died: %s\n", status.ToString().c_str());
    EXPECT_TRUE(status.code() == absl::StatusCode::kDeadlineExceeded ||
                status.code() == absl::StatusCode::kUnavailable)
        << status;
    // The endpoint is broken from then on, and says by what.
    const absl::Status after = c.Barrier(absl::Seconds(1));
    EXPECT_EQ(after.code(), absl::StatusCode::kFailedPrecondition) << after;
    EXPECT_TRUE(absl::StrContains(after.message(), status.message())) << after;
  } else {
    FAIL() << "unknown scenario " << scenario;
  }
  if (!::testing::Test::HasFailure()) std::ofstream(PassedMarker(dir, rank)) << "passed\n";
}

}  // namespace
}  // namespace ftd
