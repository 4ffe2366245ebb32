// ftctl workers over JobClient::ListWorkers, printed as a table or proto JSON.
#include "cli/worker_commands.h"

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "cli/job_format.h"
#include "common/status_macros.h"

namespace ftd {
namespace {

using Row = std::vector<std::string>;

std::string FormatGib(int64_t bytes) {
  if (bytes <= 0) return "-";
  return absl::StrFormat("%.1f GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
}

std::string Devices(const v1::RegisterWorkerRequest& registration) {
  if (registration.gpus().empty()) return absl::StrCat("cpu (", registration.cpu().cores(), " cores)");
  std::vector<std::string> gpus;
  for (const v1::GpuDevice& gpu : registration.gpus()) {
    gpus.push_back(absl::StrCat("cuda:", gpu.index(), gpu.name().empty() ? "" : " ", gpu.name()));
  }
  return absl::StrJoin(gpus, ", ");
}

std::string Memory(const v1::RegisterWorkerRequest& registration) {
  if (registration.gpus().empty()) return FormatGib(registration.cpu().memory_bytes());
  int64_t total = 0;
  for (const v1::GpuDevice& gpu : registration.gpus()) total += gpu.memory_bytes();
  return FormatGib(total);
}

std::string Ranks(const v1::WorkerInfo& worker) {
  if (worker.ranks().empty()) return "-";
  std::vector<std::string> ranks;
  for (const v1::WorkerRank& rank : worker.ranks()) {
    ranks.push_back(absl::StrCat(absl::StripPrefix(rank.job(), "jobs/"), "/r", rank.rank(), "@", rank.device()));
  }
  return absl::StrJoin(ranks, ", ");
}

}  // namespace

std::string FormatWorkerTable(const v1::ListWorkersResponse& workers, absl::Time now) {
  std::vector<Row> rows = {{"NAME", "HOST", "DEVICES", "MEMORY", "VERSION", "LEASE-LEFT", "RANKS"}};
  for (const v1::WorkerInfo& worker : workers.workers()) {
    const v1::RegisterWorkerRequest& registration = worker.registration();
    const absl::Time expiry = absl::FromUnixSeconds(worker.lease_expire_time().seconds()) +
                              absl::Nanoseconds(worker.lease_expire_time().nanos());
    rows.push_back({worker.name(), registration.host().empty() ? "-" : registration.host(), Devices(registration),
                    Memory(registration), registration.version().empty() ? "-" : registration.version(),
                    worker.has_lease_expire_time() ? FormatEta(expiry - now) : "-", Ranks(worker)});
  }
  return RenderTable(rows);
}

absl::Status WorkersList(JobClient& client, OutputFormat format, absl::Time now, std::ostream& out) {
  ASSIGN_OR_RETURN(const v1::ListWorkersResponse workers, client.ListWorkers(v1::ListWorkersRequest()));
  if (format == OutputFormat::kJson) {
    ASSIGN_OR_RETURN(const std::string json, ToJson(workers, JsonLayout::kIndented));
    out << json << '\n';
    return absl::OkStatus();
  }
  out << FormatWorkerTable(workers, now);
  return absl::OkStatus();
}

}  // namespace ftd
