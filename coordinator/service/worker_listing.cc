// ListWorkerInfos over the store's workers and unfinished jobs.
#include "coordinator/service/worker_listing.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/service/job_updates.h"
#include "coordinator/service/worker_service.h"

namespace ftd {

absl::StatusOr<std::vector<v1::WorkerInfo>> ListWorkerInfos(CoordinatorStore& store,
                                                            const std::map<std::string, absl::Time>& lease_expiry) {
  ASSIGN_OR_RETURN(const std::vector<StoredWorker> stored, store.ListWorkers());
  ASSIGN_OR_RETURN(const std::vector<v1::Job> jobs, ListUnfinishedJobs(store));
  std::map<std::string, v1::WorkerInfo> workers;  // By name, the order ListWorkers promises.
  for (const StoredWorker& worker : stored) {
    auto lease = lease_expiry.find(worker.worker_id);
    if (lease == lease_expiry.end()) continue;
    v1::WorkerInfo info;
    info.set_name(absl::StrCat("workers/", worker.worker_id));
    *info.mutable_registration() = worker.registration;
    *info.mutable_lease_expire_time() = ToProtoTime(lease->second);
    workers.emplace(info.name(), std::move(info));
  }
  for (const v1::Job& job : jobs) {
    for (const v1::RankPlacement& placement : job.placement()) {
      auto it = workers.find(placement.worker());
      if (it == workers.end()) continue;  // A lost worker: the scheduler gives its ranks up.
      v1::WorkerRank& rank = *it->second.add_ranks();
      rank.set_job(job.name());
      rank.set_attempt(job.restart_count());
      rank.set_rank(placement.rank());
      rank.set_device(placement.device());
    }
  }
  std::vector<v1::WorkerInfo> result;
  result.reserve(workers.size());
  for (auto& [name, info] : workers) {
    std::sort(info.mutable_ranks()->begin(), info.mutable_ranks()->end(),
              [](const v1::WorkerRank& a, const v1::WorkerRank& b) {
                return std::make_tuple(a.job(), a.rank()) < std::make_tuple(b.job(), b.rank());
              });
    result.push_back(std::move(info));
  }
  return result;
}

}  // namespace ftd
