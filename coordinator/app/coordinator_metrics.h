// CoordinatorMetrics: the coordinator's Prometheus metrics, measured beside the daemon's parts: jobs by state and
// workers by lease state (gauges read from the store and the worker service when /metrics is scraped) and expired
// leases (a counter the daemon's lease sweep increments).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"
#include "coordinator/store/coordinator_store.h"

namespace ftd {

// Lifecycle: Create once per daemon over the registry it exposes; `store` and `registry` must outlive it; it must
// outlive the HTTP server that serves it (it is the server's exporter). Thread-safe: Expose may run on any HTTP
// thread while the daemon's loop calls LeasesExpired.
//
// Metrics:
//   ftd_coordinator_jobs{state="QUEUED"|...}  gauge, jobs in each state (every state listed, zeros included);
//   ftd_coordinator_workers_live              gauge, workers holding a lease (expired ones not yet swept included);
//   ftd_coordinator_workers{state="live"|"expired_unswept"}
//                                             gauge, the same workers split by the clock: a lease that ends after
//                                             now is live, one that ended at or before now waits for the daemon's
//                                             sweep (ExpireLeases) to drop it;
//   ftd_coordinator_leases_expired_total      counter, worker leases that ran out.
// The job gauge scans the store's jobs on every scrape: O(jobs), fine for the job counts one coordinator holds.
class CoordinatorMetrics final : public MetricsExporter {
 public:
  // Makes the families in `registry`; Expose delegates to `exporter` (the same TextMetricsRegistry, in the daemon)
  // after refreshing the gauges. `lease_expiries` (CoordinatorWorkerService::LeaseExpiries: lease end by worker id)
  // and `clock` are asked at scrape time.
  using LeaseExpiries = std::function<std::map<std::string, absl::Time>()>;
  static absl::StatusOr<std::unique_ptr<CoordinatorMetrics>> Create(MetricsRegistry& registry,
                                                                    const MetricsExporter& exporter,
                                                                    CoordinatorStore& store,
                                                                    LeaseExpiries lease_expiries,
                                                                    std::function<absl::Time()> clock);

  void LeasesExpired(int count) { leases_expired_->Increment(count); }

  // Refreshes the gauges, then the registry's exposition. A store error leaves the job gauges at their last values.
  std::string ContentType() const override { return exporter_.ContentType(); }
  std::string Expose() const override;

 private:
  CoordinatorMetrics(const MetricsExporter& exporter, CoordinatorStore& store, LeaseExpiries lease_expiries,
                     std::function<absl::Time()> clock)
      : exporter_(exporter), store_(store), lease_expiries_(std::move(lease_expiries)), clock_(std::move(clock)) {}

  const MetricsExporter& exporter_;
  CoordinatorStore& store_;
  const LeaseExpiries lease_expiries_;
  const std::function<absl::Time()> clock_;
  std::map<int, Gauge*> jobs_by_state_;  // JobState number -> child; fixed after Create.
  Gauge* workers_live_ = nullptr;
  Gauge* workers_by_lease_live_ = nullptr;
  Gauge* workers_by_lease_expired_ = nullptr;
  Counter* leases_expired_ = nullptr;
};

}  // namespace ftd
