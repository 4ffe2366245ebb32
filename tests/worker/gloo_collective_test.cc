// Gloo collectives between real processes on loopback, meeting through the file rendezvous store: all-reduce
// (sum, mean), broadcast and barrier give every rank the right values; a missing or killed peer becomes an error
// within the timeout, never a hang. Each rank is a forked child (Gloo's threads never start in the test process);
// a child reports through its exit code.
#include "worker/collective/gloo_collective.h"

#include <signal.h>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/dtype.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

// Runs `body(collective)` as `world` ranks; returns each rank's exit code (0: success).
std::vector<int> RunRanks(int world, const std::string& store_dir,
                          const std::function<int(Collective&)>& body) {
  std::vector<pid_t> pids;
  for (int rank = 0; rank < world; ++rank) {
    pids.push_back(Spawn([&, rank]() {
      absl::StatusOr<std::unique_ptr<RendezvousStore>> store = OpenRendezvousStore("file:" + store_dir);
      if (!store.ok()) return 90;
      GlooOptions options;
      options.rank = rank;
      options.world_size = world;
      options.prefix = "job1/";
      options.connect_timeout = absl::Seconds(20);
      absl::StatusOr<std::unique_ptr<Collective>> c = ConnectGloo(options, **store);
      if (!c.ok()) {
        std::fprintf(stderr, "rank %d: %s\n", rank, std::string(c.status().message()).c_str());
        return 91;
      }
      return body(**c);
    }));
  }
  std::vector<int> codes;
  for (pid_t pid : pids) codes.push_back(ExitCode(pid));
  return codes;
}

TEST(GlooCollectiveTest, AllReduceBroadcastBarrierAcrossProcesses) {
  for (int world : {2, 3}) {
    TempDir tmp;
    const std::vector<int> codes = RunRanks(world, tmp.path(), [world](Collective& c) {
      if (c.world_size() != world) return 1;
      // Sum: rank r contributes r + i * 0.5 at element i.
      std::vector<float> x(100003);
      for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(c.rank()) + 0.5f * static_cast<float>(i % 1000);
      if (!c.AllReduce(x.data(), static_cast<int64_t>(x.size()), ReduceOp::kSum, absl::Seconds(20)).ok()) return 2;
      const float rank_sum = static_cast<float>(world * (world - 1) / 2);
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i] != rank_sum + static_cast<float>(world) * 0.5f * static_cast<float>(i % 1000)) return 3;
      }
      // Mean of the ranks.
      std::vector<float> y(17, static_cast<float>(c.rank()));
      if (!c.AllReduce(y.data(), 17, ReduceOp::kAvg, absl::Seconds(20)).ok()) return 4;
      for (float v : y) {
        if (std::abs(v - rank_sum / static_cast<float>(world)) > 1e-6f) return 5;
      }
      // Broadcast from the last rank.
      std::vector<float> z(1000, static_cast<float>(c.rank() * 10));
      if (!c.Broadcast(z.data(), 1000, world - 1, absl::Seconds(20)).ok()) return 6;
      for (float v : z) {
        if (v != static_cast<float>((world - 1) * 10)) return 7;
      }
      if (!c.Barrier(absl::Seconds(20)).ok()) return 8;
      if (c.Broadcast(z.data(), 1000, world, absl::Seconds(1)).code() != absl::StatusCode::kInvalidArgument) return 9;
      return 0;
    });
    for (int rank = 0; rank < world; ++rank) EXPECT_EQ(codes[rank], 0) << "world " << world << " rank " << rank;
  }
}

TEST(GlooCollectiveTest, Bf16AllReduceRoundsLikeTheReference) {
  for (int world : {2, 3}) {
    TempDir tmp;
    const std::vector<int> codes = RunRanks(world, tmp.path(), [world](Collective& c) {
      // Exactly representable values sum exactly; others must equal the bf16-rounded sums of the ring's order,
      // which for these inputs (all ranks equal) is rank-order independent: x, then bf16(2x), then bf16(3x)...
      constexpr int64_t kCount = 5000;
      std::vector<uint16_t> x(kCount), y(kCount);
      for (int64_t i = 0; i < kCount; ++i) {
        x[i] = F32ToBf16(static_cast<float>(c.rank() + i % 13));           // small integers: exact
        y[i] = F32ToBf16(1.0f + static_cast<float>(i) / 4096.0f);           // needs rounding when added
      }
      if (!c.AllReduceBf16(x.data(), kCount, ReduceOp::kSum, absl::Seconds(20)).ok()) return 2;
      if (!c.AllReduceBf16(y.data(), kCount, ReduceOp::kSum, absl::Seconds(20)).ok()) return 3;
      const float rank_sum = static_cast<float>(world * (world - 1) / 2);
      for (int64_t i = 0; i < kCount; ++i) {
        if (Bf16ToF32(x[i]) != rank_sum + static_cast<float>(world * (i % 13))) return 4;
        const float v = Bf16ToF32(F32ToBf16(1.0f + static_cast<float>(i) / 4096.0f));
        float want = v;
        for (int r = 1; r < world; ++r) want = Bf16ToF32(F32ToBf16(want + v));
        if (Bf16ToF32(y[i]) != want) return 5;
      }
      std::vector<uint16_t> m(7, F32ToBf16(static_cast<float>(2 * c.rank())));
      if (!c.AllReduceBf16(m.data(), 7, ReduceOp::kAvg, absl::Seconds(20)).ok()) return 6;
      for (uint16_t v : m) {
        if (Bf16ToF32(v) != static_cast<float>(world - 1)) return 7;
      }
      return 0;
    });
    for (int rank = 0; rank < world; ++rank) EXPECT_EQ(codes[rank], 0) << "world " << world << " rank " << rank;
  }
}

TEST(GlooCollectiveTest, AMissingPeerIsADeadlineNotAHang) {
  TempDir tmp;
  // Rank 0 of 2 alone: the rendezvous times out naming what it waited for.
  const pid_t pid = Spawn([dir = tmp.path()]() {
    absl::StatusOr<std::unique_ptr<RendezvousStore>> store = OpenRendezvousStore("file:" + dir);
    if (!store.ok()) return 90;
    GlooOptions options;
    options.rank = 0;
    options.world_size = 2;
    options.connect_timeout = absl::Milliseconds(300);
    absl::StatusOr<std::unique_ptr<Collective>> c = ConnectGloo(options, **store);
    if (c.ok()) return 1;
    std::fprintf(stderr, "%s\n", std::string(c.status().message()).c_str());
    return c.status().code() == absl::StatusCode::kDeadlineExceeded ? 0 : 2;
  });
  EXPECT_EQ(ExitCode(pid), 0);
  GlooOptions bad;
  bad.rank = 2;
  bad.world_size = 2;
  absl::StatusOr<std::unique_ptr<RendezvousStore>> store = OpenRendezvousStore("file:" + tmp.path());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(ConnectGloo(bad, **store).status().message(), "gloo: rank 2 outside a world of 2");
}

TEST(GlooCollectiveTest, AKilledPeerFailsTheOtherRankWithinTheTimeout) {
  TempDir tmp;
  const std::vector<int> codes = RunRanks(2, tmp.path(), [](Collective& c) {
    std::vector<float> x(1 << 16, 1.0f);
    if (!c.AllReduce(x.data(), static_cast<int64_t>(x.size()), ReduceOp::kSum, absl::Seconds(20)).ok()) return 2;
    if (c.rank() == 1) raise(SIGKILL);  // dies without a word, as an OOM-killed rank does
    const absl::Status status =
        c.AllReduce(x.data(), static_cast<int64_t>(x.size()), ReduceOp::kSum, absl::Seconds(2));
    std::fprintf(stderr, "rank 0 after the peer died: %s\n", status.ToString().c_str());
    if (status.ok()) return 3;
    if (status.code() != absl::StatusCode::kUnavailable && status.code() != absl::StatusCode::kDeadlineExceeded) {
      return 4;
    }
    // The endpoint is broken from then on.
    return c.Barrier(absl::Seconds(1)).code() == absl::StatusCode::kFailedPrecondition ? 0 : 5;
  });
  EXPECT_EQ(codes[0], 0);
  EXPECT_EQ(codes[1], -1);  // killed by the signal
}

}  // namespace
}  // namespace ftd
