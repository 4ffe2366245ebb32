// CPU nominal peak: parse the first processor block of /proc/cpuinfo (x86 "flags", Arm "Features").
#include "kernels/cpu/cpu_peak_flops.h"

#include <omp.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace ftd::cpu {
namespace {

// The value of the first "key : value" line whose key is `key`; empty when there is none.
std::string Field(absl::string_view cpuinfo, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(cpuinfo, '\n')) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::StripAsciiWhitespace(line.substr(0, colon)) == key) {
      return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

bool HasFlag(const std::vector<std::string>& flags, absl::string_view flag) {
  for (const std::string& f : flags) {
    if (f == flag) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<NominalPeakFlops> CpuPeakFlopsFrom(absl::string_view cpuinfo, std::optional<double> max_khz,
                                                  int threads) {
  if (threads < 1) return absl::InvalidArgumentError(absl::StrCat("CPU peak FLOP/s: threads=", threads, " < 1"));
  double ghz = 0;
  if (max_khz.has_value() && *max_khz > 0) {
    ghz = *max_khz / 1e6;
  } else if (double mhz = 0; absl::SimpleAtod(Field(cpuinfo, "cpu MHz"), &mhz) && mhz > 0) {
    ghz = mhz / 1e3;
  } else {
    return absl::InvalidArgumentError("CPU peak FLOP/s: neither cpufreq nor /proc/cpuinfo names the clock");
  }
  std::string flag_text = Field(cpuinfo, "flags");
  if (flag_text.empty()) flag_text = Field(cpuinfo, "Features");
  const std::vector<std::string> flags = absl::StrSplit(flag_text, ' ', absl::SkipEmpty());
  int per_cycle = 8;
  std::string isa = "scalar/SSE";
  if (HasFlag(flags, "avx512f")) {
    per_cycle = 64;
    isa = "avx512f";
    int family = 0;
    if (Field(cpuinfo, "vendor_id") == "AuthenticAMD" && absl::SimpleAtoi(Field(cpuinfo, "cpu family"), &family) &&
        family < 0x1a) {
      per_cycle = 32;
      isa = "avx512f on 256-bit pipes: AMD family < 0x1a";
    }
  } else if (HasFlag(flags, "avx2") && HasFlag(flags, "fma")) {
    per_cycle = 32;
    isa = "avx2+fma";
  } else if (HasFlag(flags, "avx")) {
    per_cycle = 16;
    isa = "avx";
  } else if (HasFlag(flags, "asimd")) {
    per_cycle = 16;
    isa = "neon";
  }
  NominalPeakFlops peak;
  peak.flops_per_second = threads * ghz * 1e9 * per_cycle;
  peak.basis = absl::StrFormat("%d threads x %.2f GHz x %d fp32 FLOP/cycle (%s)", threads, ghz, per_cycle, isa);
  return peak;
}

absl::StatusOr<NominalPeakFlops> CpuPeakFlops() {
  std::ifstream in("/proc/cpuinfo");
  std::stringstream text;
  text << in.rdbuf();
  // Only the first processor's block: every core of one machine describes itself alike.
  std::string cpuinfo = text.str();
  if (const size_t end = cpuinfo.find("\n\n"); end != std::string::npos) cpuinfo.resize(end);
  std::optional<double> max_khz;
  std::ifstream freq("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
  if (double khz = 0; freq >> khz && khz > 0) max_khz = khz;
  return CpuPeakFlopsFrom(cpuinfo, max_khz, omp_get_max_threads());
}

}  // namespace ftd::cpu
