// ftd_build_info from the FTD_VERSION and FTD_REVISION definitions (common/metrics/CMakeLists.txt).
#include "common/metrics/build_info.h"

#include <string>

namespace ftd {

absl::string_view BuildVersion() { return FTD_VERSION; }
absl::string_view BuildRevision() { return FTD_REVISION; }

absl::Status RegisterBuildInfo(MetricsRegistry& registry, absl::string_view binary) {
  absl::StatusOr<GaugeFamily*> family = registry.AddGauge(
      "ftd_build_info", "Always 1; its labels say which binary, version and source revision is running.",
      {"binary", "version", "revision"});
  if (!family.ok()) return family.status();
  absl::StatusOr<Gauge*> gauge =
      (*family)->WithLabels({std::string(binary), std::string(BuildVersion()), std::string(BuildRevision())});
  if (!gauge.ok()) return gauge.status();
  (*gauge)->Set(1);
  return absl::OkStatus();
}

}  // namespace ftd
