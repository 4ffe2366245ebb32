// ftctl workers, flag-free: the workers holding a lease (JobService.ListWorkers) as a table or JSON. Built only with
// FTD_SERVICE=ON.
#pragma once

#include <iosfwd>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/job_client.h"
#include "cli/output_format.h"
#include "ftd/v1/job_service.pb.h"

namespace ftd {

// Columns NAME, HOST, DEVICES, MEMORY, VERSION, LEASE-LEFT, RANKS; a header even when empty. DEVICES lists the
// GPUs ("cuda:0 NVIDIA H200") or "cpu (N cores)"; MEMORY is the GPUs' total, else the host memory offered;
// LEASE-LEFT counts from `now` ("-" once run out); RANKS is "ft-000001/r0@cuda:0" per rank, "-" for none.
std::string FormatWorkerTable(const v1::ListWorkersResponse& workers, absl::Time now);

// Prints the table (lease times against `now`, the local clock) or, for JSON, the ListWorkersResponse.
absl::Status WorkersList(JobClient& client, OutputFormat format, absl::Time now, std::ostream& out);

}  // namespace ftd
