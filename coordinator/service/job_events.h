// JobEvents: the coordinator's in-process signal that a job has new events in the store, so WatchJob streams wake
// at once instead of polling RocksDB. Whoever appends events (the JobService, the scheduler, the worker service)
// publishes after the store write; the events themselves are always read back from the store.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ftd {

// Lifecycle: one per coordinator, created before the services that publish and watch, Shutdown() before the gRPC
// server shuts down (so blocked watchers return), destroyed after every Subscription. Thread-safe.
//
// No event is missed: a watcher subscribes before it first reads the store, and a publisher publishes after its
// write, so an event written after the watcher's read is always published to a live subscription. Only jobs with
// a subscriber are tracked: memory is per open watch, not per job.
class JobEvents {
 public:
  enum class WaitResult { kNewEvents, kTimedOut, kShutDown };

  // One watcher's interest in one job. Destroying it unsubscribes. Used by one thread at a time.
  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // Blocks until an event with a sequence above `after_sequence` has been published for the job (or was
    // published since Subscribe), `timeout` has passed, or Shutdown() was called.
    WaitResult Wait(int64_t after_sequence, absl::Duration timeout);

   private:
    friend class JobEvents;
    Subscription(JobEvents& hub, std::string job_id) : hub_(hub), job_id_(std::move(job_id)) {}
    JobEvents& hub_;
    const std::string job_id_;
  };

  JobEvents() = default;
  JobEvents(const JobEvents&) = delete;
  JobEvents& operator=(const JobEvents&) = delete;

  // `job_id` is the {job} of "jobs/{job}".
  std::unique_ptr<Subscription> Subscribe(absl::string_view job_id);

  // Call after the store write that gave the job events up to `last_event_sequence` (Job.last_event_sequence as
  // the store returned it). Cheap when nobody watches the job.
  void Publish(absl::string_view job_id, int64_t last_event_sequence);

  // Wakes every waiter with kShutDown, now and for every later Wait.
  void Shutdown();
  bool is_shut_down() const;

 private:
  struct Watched {
    int64_t published = 0;  // Highest sequence published since the first subscriber came.
    int subscribers = 0;
  };

  mutable absl::Mutex mu_;
  std::map<std::string, Watched, std::less<>> watched_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ftd
