// The file rendezvous store as ranks use it: set / get / wait with a timeout, any bytes in keys and values, and
// real processes (fork) meeting through one directory.
#include "worker/collective/rendezvous_store.h"

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

std::unique_ptr<RendezvousStore> Open(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<RendezvousStore>> store = OpenRendezvousStore("file:" + dir);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST(RendezvousStoreTest, SetGetWaitAnyBytes) {
  TempDir tmp;
  std::unique_ptr<RendezvousStore> store = Open(tmp.file("store"));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->Get("job/1/rank0"), std::nullopt);
  const std::string binary("id\0with\xff bytes", 15);
  ASSERT_TRUE(store->Set("job/1/rank0", binary).ok());
  EXPECT_EQ(*store->Get("job/1/rank0"), binary);
  EXPECT_EQ(*store->Wait("job/1/rank0", absl::Seconds(1)), binary);
  ASSERT_TRUE(store->Set("job/1/rank0", "replaced").ok());
  EXPECT_EQ(*store->Get("job/1/rank0"), "replaced");
  ASSERT_TRUE(store->Set("empty value", "").ok());
  EXPECT_EQ(*store->Get("empty value"), "");
  EXPECT_EQ(store->Set("", "x").code(), absl::StatusCode::kInvalidArgument);
  // A second handle on the same directory sees the same keys.
  EXPECT_EQ(*Open(tmp.file("store"))->Get("job/1/rank0"), "replaced");
}

TEST(RendezvousStoreTest, WaitTimesOutNamingTheKey) {
  TempDir tmp;
  std::unique_ptr<RendezvousStore> store = Open(tmp.path());
  ASSERT_NE(store, nullptr);
  const absl::Status status = store->Wait("rank1/address", absl::Milliseconds(30)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(status.message().find("\"rank1/address\" not set within 30ms"), absl::string_view::npos) << status;
}

TEST(RendezvousStoreTest, BadSpecsAreRefused) {
  EXPECT_EQ(OpenRendezvousStore("tcp://10.0.0.1:29500").status().message(),
            "--rendezvous tcp://10.0.0.1:29500: expected file:DIR (the coordinator store comes with `serve`)");
  EXPECT_EQ(OpenRendezvousStore("file:").status().code(), absl::StatusCode::kInvalidArgument);
  TempDir tmp;
  { std::ofstream(tmp.file("a_file")) << "x"; }
  EXPECT_EQ(OpenRendezvousStore("file:" + tmp.file("a_file")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RendezvousStoreTest, ProcessesMeetThroughTheDirectory) {
  TempDir tmp;
  const std::string dir = tmp.file("store");
  constexpr int kRanks = 4;
  // Every rank publishes its "address" and then waits for everyone else's: an all-gather through the store, as
  // Gloo's bootstrap does it. Rank 0 is this process.
  std::vector<pid_t> children;
  for (int rank = 1; rank < kRanks; ++rank) {
    children.push_back(Spawn([&dir, rank]() {
      absl::StatusOr<std::unique_ptr<RendezvousStore>> store = OpenRendezvousStore("file:" + dir);
      if (!store.ok() || !(*store)->Set(absl::StrCat("addr/", rank), absl::StrCat("127.0.0.1:", 5000 + rank)).ok()) {
        return 2;
      }
      for (int other = 0; other < kRanks; ++other) {
        absl::StatusOr<std::string> v = (*store)->Wait(absl::StrCat("addr/", other), absl::Seconds(20));
        if (!v.ok() || *v != absl::StrCat("127.0.0.1:", 5000 + other)) return 3;
      }
      return (*store)->Set(absl::StrCat("done/", rank), "ok").ok() ? 0 : 4;
    }));
  }
  std::unique_ptr<RendezvousStore> store = Open(dir);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Set("addr/0", "127.0.0.1:5000").ok());
  for (int rank = 1; rank < kRanks; ++rank) {
    absl::StatusOr<std::string> done = store->Wait(absl::StrCat("done/", rank), absl::Seconds(20));
    EXPECT_TRUE(done.ok()) << done.status();
  }
  for (size_t i = 0; i < children.size(); ++i) EXPECT_EQ(ExitCode(children[i]), 0) << "rank " << i + 1;
}

}  // namespace
}  // namespace ftd
