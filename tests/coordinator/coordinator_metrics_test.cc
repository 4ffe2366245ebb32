// CoordinatorMetrics over a temp CoordinatorStore, a lease table the test controls and a fake clock: the workers
// gauge splits leases into live and expired-but-unswept at scrape time, beside the older workers_live total.
#include "coordinator/app/coordinator_metrics.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/metrics/text_registry.h"
#include "coordinator/store/coordinator_store.h"
#include "gtest/gtest.h"
#include "tests/testing/exposed_value.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

TEST(CoordinatorMetricsTest, WorkersAreSplitByLeaseStateAtScrapeTime) {
  TempDir dir("ftd_coordinator_metrics_test");
  absl::StatusOr<std::unique_ptr<CoordinatorStore>> store = CoordinatorStore::Open(dir.file("store"));
  ASSERT_TRUE(store.ok()) << store.status();
  TextMetricsRegistry registry;
  FakeClock clock;
  std::map<std::string, absl::Time> leases;  // What CoordinatorWorkerService::LeaseExpiries would return.
  absl::StatusOr<std::unique_ptr<CoordinatorMetrics>> metrics = CoordinatorMetrics::Create(
      registry, registry, **store, [&leases] { return leases; }, [&clock] { return clock.Now(); });
  ASSERT_TRUE(metrics.ok()) << metrics.status();

  struct Want {
    double live, expired_unswept, total;
  };
  auto expect = [&](Want want, absl::string_view when) {
    const std::string text = (*metrics)->Expose();
    EXPECT_EQ(ExposedValue(text, "ftd_coordinator_workers{state=\"live\"}"), want.live) << when << "\n" << text;
    EXPECT_EQ(ExposedValue(text, "ftd_coordinator_workers{state=\"expired_unswept\"}"), want.expired_unswept)
        << when << "\n" << text;
    EXPECT_EQ(ExposedValue(text, "ftd_coordinator_workers_live"), want.total) << when << "\n" << text;
  };

  expect({0, 0, 0}, "no workers");
  leases["w-1"] = clock.Now() + absl::Seconds(10);
  leases["w-2"] = clock.Now() + absl::Seconds(20);
  expect({2, 0, 2}, "two fresh leases");
  clock.Advance(absl::Seconds(10));
  expect({1, 1, 2}, "w-1's lease ends now: expired, as LiveWorkers counts it");
  clock.Advance(absl::Seconds(15));
  expect({0, 2, 2}, "both ran out, none swept");
  leases.erase("w-1");
  expect({0, 1, 1}, "the sweep dropped w-1");
}

}  // namespace
}  // namespace ftd
