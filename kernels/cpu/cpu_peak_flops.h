// The CPU's nominal peak fp32 FLOP/s (CpuBackend::PeakFlops, the denominator of a CPU run's MFU), derived from the
// CPU's own description: threads x clock x FLOP per cycle per core. FLOP per cycle is two FMA pipes of the widest
// vector the CPU advertises (2 x 2 x lanes: AVX-512F 64, AVX2+FMA 32, AVX 16 without FMA, SSE2 / NEON 16 / 8), but
// 32 for AMD before Zen 5 (family < 0x1a), whose AVX-512 runs on 256-bit pipes. The clock is cpufreq's
// cpuinfo_max_freq where the kernel exposes it, else /proc/cpuinfo's "cpu MHz". A spec-sheet estimate, not a
// measurement; `ftd-worker train --peak-flops` overrides it.
#pragma once

#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kernels/kernels.h"

namespace ftd::cpu {

// From /proc/cpuinfo's text, cpufreq's maximum in kHz (nullopt: absent) and the threads the backend runs on.
// INVALID_ARGUMENT when the text names no clock or threads < 1.
absl::StatusOr<NominalPeakFlops> CpuPeakFlopsFrom(absl::string_view cpuinfo, std::optional<double> max_khz,
                                                  int threads);

// This machine's, for omp_get_max_threads() threads (read once per call; cheap enough for once per run).
absl::StatusOr<NominalPeakFlops> CpuPeakFlops();

}  // namespace ftd::cpu
