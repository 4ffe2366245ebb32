// JobEvents: a map of watched jobs to the highest published sequence, under one mutex; waiters block on a condition
// over their own job's entry, so a publish wakes only the watchers of that job.
#include "coordinator/service/job_events.h"

namespace ftd {

JobEvents::Subscription::~Subscription() {
  absl::MutexLock lock(&hub_.mu_);
  auto it = hub_.watched_.find(job_id_);
  if (it != hub_.watched_.end() && --it->second.subscribers == 0) hub_.watched_.erase(it);
}

JobEvents::WaitResult JobEvents::Subscription::Wait(int64_t after_sequence, absl::Duration timeout) {
  absl::MutexLock lock(&hub_.mu_);
  // The entry lives as long as this subscription, so the pointer stays valid while we wait.
  const Watched* watched = &hub_.watched_.at(job_id_);
  const JobEvents* hub = &hub_;
  auto ready = [watched, hub, after_sequence]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(hub->mu_) {
    return hub->shut_down_ || watched->published > after_sequence;
  };
  hub_.mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (hub_.shut_down_) return WaitResult::kShutDown;
  return watched->published > after_sequence ? WaitResult::kNewEvents : WaitResult::kTimedOut;
}

std::unique_ptr<JobEvents::Subscription> JobEvents::Subscribe(absl::string_view job_id) {
  absl::MutexLock lock(&mu_);
  ++watched_[std::string(job_id)].subscribers;
  return std::unique_ptr<Subscription>(new Subscription(*this, std::string(job_id)));
}

void JobEvents::Publish(absl::string_view job_id, int64_t last_event_sequence) {
  absl::MutexLock lock(&mu_);
  auto it = watched_.find(job_id);
  if (it == watched_.end()) return;
  // Publishers may race (two writers, published in the other order): keep the highest.
  if (last_event_sequence > it->second.published) it->second.published = last_event_sequence;
}

void JobEvents::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
}

bool JobEvents::is_shut_down() const {
  absl::MutexLock lock(&mu_);
  return shut_down_;
}

}  // namespace ftd
