// What the CPU backend says about itself: the allocation counters behind a run's device memory peak, and the
// nominal peak FLOP/s behind its MFU (parsed from /proc/cpuinfo-shaped text, and this machine's own).
#include <cstdio>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_peak_flops.h"

namespace ftd::cpu {
namespace {

TEST(CpuBackendStatsTest, MemoryStatsCountLiveBytesAndKeepThePeak) {
  CpuBackend backend;
  absl::StatusOr<DeviceMemoryStats> before = backend.MemoryStats();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->allocated_bytes, 0);
  void* a = *backend.Allocate(1 << 20);
  void* b = *backend.Allocate(3 << 20);
  const DeviceMemoryStats both = *backend.MemoryStats();
  EXPECT_GE(both.allocated_bytes, 4 << 20);
  EXPECT_LT(both.allocated_bytes, (4 << 20) + 64 * 1024) << "counted as allocated, give or take the allocator's slack";
  ASSERT_TRUE(backend.Free(b).ok());
  void* c = *backend.Allocate(1 << 20);
  const DeviceMemoryStats later = *backend.MemoryStats();
  EXPECT_LT(later.allocated_bytes, both.allocated_bytes);
  EXPECT_EQ(later.peak_allocated_bytes, both.allocated_bytes) << "the peak stays at its highest";
  ASSERT_TRUE(backend.Free(a).ok());
  ASSERT_TRUE(backend.Free(c).ok());
  ASSERT_TRUE(backend.Free(nullptr).ok());
  EXPECT_EQ(backend.MemoryStats()->allocated_bytes, 0);
}

constexpr char kIntelAvx512[] =
    "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
    "cpu MHz\t\t: 2000.000\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw\n";
constexpr char kAmdZen4[] =
    "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel name\t: AMD EPYC 9654\n"
    "cpu MHz\t\t: 2596.150\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n";
constexpr char kAmdZen5[] =
    "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\ncpu MHz\t\t: 3000.000\nflags\t\t: avx2 fma avx512f\n";
constexpr char kAvx2[] = "vendor_id\t: GenuineIntel\ncpu MHz\t\t: 3000.000\nflags\t\t: sse2 avx avx2 fma\n";
constexpr char kNeon[] = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes\n";

TEST(CpuBackendStatsTest, NominalPeakIsThreadsTimesClockTimesFmaWidth) {
  absl::StatusOr<NominalPeakFlops> intel = CpuPeakFlopsFrom(kIntelAvx512, std::nullopt, 2);
  ASSERT_TRUE(intel.ok()) << intel.status();
  EXPECT_DOUBLE_EQ(intel->flops_per_second, 2 * 2.0e9 * 64);
  EXPECT_NE(intel->basis.find("avx512f"), std::string::npos) << intel->basis;
  // cpufreq's maximum (kHz) wins over the current "cpu MHz".
  EXPECT_DOUBLE_EQ(CpuPeakFlopsFrom(kIntelAvx512, 3.8e6, 1)->flops_per_second, 3.8e9 * 64);
  EXPECT_DOUBLE_EQ(CpuPeakFlopsFrom(kAmdZen4, std::nullopt, 4)->flops_per_second, 4 * 2.59615e9 * 32)
      << "AVX-512 on Zen 4's 256-bit pipes";
  EXPECT_DOUBLE_EQ(CpuPeakFlopsFrom(kAmdZen5, std::nullopt, 1)->flops_per_second, 3e9 * 64);
  EXPECT_DOUBLE_EQ(CpuPeakFlopsFrom(kAvx2, std::nullopt, 1)->flops_per_second, 3e9 * 32);
  EXPECT_DOUBLE_EQ(CpuPeakFlopsFrom(kNeon, 2.0e6, 1)->flops_per_second, 2e9 * 16);
}

TEST(CpuBackendStatsTest, NoClockOrNoThreadsIsAnError) {
  const absl::StatusOr<NominalPeakFlops> no_clock = CpuPeakFlopsFrom(kNeon, std::nullopt, 1);
  EXPECT_EQ(no_clock.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_clock.status().message().find("clock"), absl::string_view::npos) << no_clock.status();
  EXPECT_EQ(CpuPeakFlopsFrom(kAvx2, std::nullopt, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CpuBackendStatsTest, ThisMachineHasANominalPeak) {
  absl::StatusOr<NominalPeakFlops> peak = CpuBackend().PeakFlops();
  if (!peak.ok()) GTEST_SKIP() << "this machine does not describe its CPU: " << peak.status();
  EXPECT_GT(peak->flops_per_second, 1e9) << peak->basis;
  std::printf("nominal peak: %.4g GFLOP/s (%s)\n", peak->flops_per_second / 1e9, peak->basis.c_str());
}

}  // namespace
}  // namespace ftd::cpu
