// ListWorkerInfos: the JobService's ListWorkers answer, built from the stored registrations, the worker service's
// in-memory leases and the placements of unfinished jobs. A free function so the daemon can wire it in without the
// JobService linking the worker service.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/store/coordinator_store.h"
#include "ftd/v1/job_service.pb.h"

namespace ftd {

// Every stored worker that holds a lease (`lease_expiry`: worker id -> when its lease runs out), by name, with its
// registration, lease expiry and the ranks of unfinished jobs placed on it (by job, then rank; attempt = the job's
// restart_count, as RunRankFor sends it). Stored workers without a lease are left out; store errors are returned.
absl::StatusOr<std::vector<v1::WorkerInfo>> ListWorkerInfos(CoordinatorStore& store,
                                                            const std::map<std::string, absl::Time>& lease_expiry);

}  // namespace ftd
