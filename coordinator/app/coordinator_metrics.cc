// CoordinatorMetrics: scrape-time gauges over the store and the worker service's leases, plus the lease counter.
#include "coordinator/app/coordinator_metrics.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "ftd/v1/job.pb.h"

namespace ftd {

absl::StatusOr<std::unique_ptr<CoordinatorMetrics>> CoordinatorMetrics::Create(MetricsRegistry& registry,
                                                                             const MetricsExporter& exporter,
                                                                             CoordinatorStore& store,
                                                                             LeaseExpiries lease_expiries,
                                                                             std::function<absl::Time()> clock) {
  std::unique_ptr<CoordinatorMetrics> metrics(
      new CoordinatorMetrics(exporter, store, std::move(lease_expiries), std::move(clock)));
  ASSIGN_OR_RETURN(GaugeFamily * jobs,
                   registry.AddGauge("ftd_coordinator_jobs", "Jobs in the store, by state.", {"state"}));
  for (int state = v1::JobState_MIN; state <= v1::JobState_MAX; ++state) {
    if (!v1::JobState_IsValid(state) || state == v1::JOB_STATE_UNSPECIFIED) continue;
    absl::string_view label = v1::JobState_Name(static_cast<v1::JobState>(state));
    absl::ConsumePrefix(&label, "JOB_STATE_");
    ASSIGN_OR_RETURN(metrics->jobs_by_state_[state], jobs->WithLabels({std::string(label)}));
  }
  ASSIGN_OR_RETURN(GaugeFamily * workers,
                   registry.AddGauge("ftd_coordinator_workers_live", "Registered workers holding a lease.", {}));
  ASSIGN_OR_RETURN(metrics->workers_live_, workers->WithLabels({}));
  ASSIGN_OR_RETURN(GaugeFamily * by_lease, registry.AddGauge("ftd_coordinator_workers",
                                                             "Registered workers holding a lease, by whether it "
                                                             "is still valid or ran out and awaits the sweep.",
                                                             {"state"}));
  ASSIGN_OR_RETURN(metrics->workers_by_lease_live_, by_lease->WithLabels({"live"}));
  ASSIGN_OR_RETURN(metrics->workers_by_lease_expired_, by_lease->WithLabels({"expired_unswept"}));
  ASSIGN_OR_RETURN(CounterFamily * expired, registry.AddCounter("ftd_coordinator_leases_expired_total",
                                                               "Worker leases that ran out without a heartbeat.", {}));
  ASSIGN_OR_RETURN(metrics->leases_expired_, expired->WithLabels({}));
  return metrics;
}

std::string CoordinatorMetrics::Expose() const {
  std::map<int, int64_t> counts;
  JobQuery query;
  query.page_size = 1000;
  bool complete = true;
  while (true) {
    absl::StatusOr<JobPage> page = store_.ListJobs(query);
    if (!page.ok()) {
      complete = false;
      break;
    }
    for (const v1::Job& job : page->jobs) ++counts[job.state()];
    if (page->next_page_token.empty()) break;
    query.page_token = std::move(page->next_page_token);
  }
  if (complete) {
    for (const auto& [state, gauge] : jobs_by_state_) gauge->Set(static_cast<double>(counts[state]));
  }
  const std::map<std::string, absl::Time> leases = lease_expiries_();
  const absl::Time now = clock_();
  int64_t live = 0;
  for (const auto& [id, expiry] : leases) {
    if (expiry > now) ++live;  // As CoordinatorWorkerService::LiveWorkers counts.
  }
  workers_live_->Set(static_cast<double>(leases.size()));
  workers_by_lease_live_->Set(static_cast<double>(live));
  workers_by_lease_expired_->Set(static_cast<double>(static_cast<int64_t>(leases.size()) - live));
  return exporter_.Expose();
}

}  // namespace ftd
