// ftd_build_info: the gauge every serving binary exposes once, value 1, labelled with what was built, so dashboards
// and alerts can tell versions apart during a rolling upgrade (Prometheus' `*_build_info` convention).
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/metrics/metrics.h"

namespace ftd {

// The version (the CMake project version) and source revision (`git describe --always --dirty` at configure
// time, "unknown" outside a git checkout) this binary was built from.
absl::string_view BuildVersion();
absl::string_view BuildRevision();

// Registers ftd_build_info{binary, version, revision} = 1 in `registry`; `binary` is "ftd" or "ftd-worker".
// ALREADY_EXISTS when the registry has it already.
absl::Status RegisterBuildInfo(MetricsRegistry& registry, absl::string_view binary);

}  // namespace ftd
