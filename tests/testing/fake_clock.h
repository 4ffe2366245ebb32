// A clock for tests: time stands still unless a test moves it, so timestamps can be asserted exactly and leases and
// timeouts expire only when a test says so. Thread-safe (services read it from gRPC threads).
#pragma once

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ftd {

class FakeClock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1735787045))  // 2025-01-02T03:04:05Z
      : now_(start) {}

  absl::Time Now() {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_;
};

}  // namespace ftd
