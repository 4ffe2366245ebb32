// JobEvents: a publish wakes the job's subscribers, an earlier publish is not lost, other jobs' publishes do not
// count, Shutdown wakes everyone. Waits that must time out use zero timeouts, so nothing sleeps.
#include "coordinator/service/job_events.h"

#include <thread>

#include "gtest/gtest.h"

namespace ftd {
namespace {

using WaitResult = JobEvents::WaitResult;

TEST(JobEventsTest, PublishWakesASubscriberWaitingForIt) {
  JobEvents events;
  const std::unique_ptr<JobEvents::Subscription> subscription = events.Subscribe("ft-000001");
  std::thread publisher([&] { events.Publish("ft-000001", 4); });
  // Without the publish this would wait for the (test-long) timeout and fail.
  EXPECT_EQ(subscription->Wait(3, absl::Seconds(30)), WaitResult::kNewEvents);
  publisher.join();
}

TEST(JobEventsTest, APublishBeforeTheWaitIsNotLost) {
  JobEvents events;
  const std::unique_ptr<JobEvents::Subscription> subscription = events.Subscribe("ft-000001");
  events.Publish("ft-000001", 2);
  EXPECT_EQ(subscription->Wait(1, absl::ZeroDuration()), WaitResult::kNewEvents);
  // The watcher has read sequence 2 by now: nothing newer was published.
  EXPECT_EQ(subscription->Wait(2, absl::ZeroDuration()), WaitResult::kTimedOut);
  // An out-of-order (older) publish does not move the mark back.
  events.Publish("ft-000001", 1);
  EXPECT_EQ(subscription->Wait(1, absl::ZeroDuration()), WaitResult::kNewEvents);
}

TEST(JobEventsTest, OtherJobsAndUnwatchedPublishesDoNotCount) {
  JobEvents events;
  events.Publish("ft-000001", 7);  // Nobody watches yet: dropped, the store has the events.
  const std::unique_ptr<JobEvents::Subscription> subscription = events.Subscribe("ft-000001");
  events.Publish("ft-000002", 9);
  EXPECT_EQ(subscription->Wait(0, absl::ZeroDuration()), WaitResult::kTimedOut);
}

TEST(JobEventsTest, TwoSubscribersOfOneJobAndUnsubscribing) {
  JobEvents events;
  std::unique_ptr<JobEvents::Subscription> first = events.Subscribe("ft-000001");
  const std::unique_ptr<JobEvents::Subscription> second = events.Subscribe("ft-000001");
  events.Publish("ft-000001", 3);
  first.reset();  // The other subscriber keeps the job watched.
  EXPECT_EQ(second->Wait(2, absl::ZeroDuration()), WaitResult::kNewEvents);
}

TEST(JobEventsTest, ShutdownWakesWaitersAndLaterWaits) {
  JobEvents events;
  const std::unique_ptr<JobEvents::Subscription> subscription = events.Subscribe("ft-000001");
  EXPECT_FALSE(events.is_shut_down());
  std::thread stopper([&] { events.Shutdown(); });
  EXPECT_EQ(subscription->Wait(0, absl::Seconds(30)), WaitResult::kShutDown);
  stopper.join();
  EXPECT_TRUE(events.is_shut_down());
  EXPECT_EQ(subscription->Wait(0, absl::ZeroDuration()), WaitResult::kShutDown);
}

}  // namespace
}  // namespace ftd
