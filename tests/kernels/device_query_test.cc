// The CUDA device query and probe kernel. Skips, saying why, where there is no GPU (CI, the dev machines);
// on a GPU machine it checks each device's reported properties and runs the probe kernel on it.
#include "kernels/device_query.h"

#include "gtest/gtest.h"

namespace ftd {
namespace {

TEST(DeviceQueryTest, ReportsUsableGpusOrWhyThereAreNone) {
  absl::StatusOr<GpuInventory> inventory = QueryGpus();
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  if (inventory->devices.empty()) {
    EXPECT_FALSE(inventory->unavailable_reason.empty());
    GTEST_SKIP() << "no GPU here: " << inventory->unavailable_reason;
  }
  EXPECT_TRUE(CudaCompiledIn());
  EXPECT_TRUE(inventory->unavailable_reason.empty());
  for (size_t i = 0; i < inventory->devices.size(); ++i) {
    const GpuDevice& d = inventory->devices[i];
    EXPECT_EQ(d.index, static_cast<int>(i));
    EXPECT_FALSE(d.name.empty());
    EXPECT_GE(d.compute_major, 7) << d.name;
    EXPECT_GT(d.total_memory_bytes, int64_t{1} << 30) << d.name;
    EXPECT_GT(d.multiprocessors, 0) << d.name;
    EXPECT_EQ(d.pci_bus_id.size(), 12u) << d.pci_bus_id;  // "0000:1b:00.0"
  }
}

TEST(DeviceQueryTest, ProbeKernelRunsOnEveryGpu) {
  absl::StatusOr<GpuInventory> inventory = QueryGpus();
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  if (inventory->devices.empty()) GTEST_SKIP() << "no GPU here: " << inventory->unavailable_reason;
  for (const GpuDevice& d : inventory->devices) {
    absl::Status status = ProbeGpu(d.index);
    EXPECT_TRUE(status.ok()) << d.name << ": " << status;
  }
}

TEST(DeviceQueryTest, ProbeOfAMissingDeviceIsAnError) {
  absl::StatusOr<GpuInventory> inventory = QueryGpus();
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  if (inventory->devices.empty()) GTEST_SKIP() << "no GPU here: " << inventory->unavailable_reason;
  absl::Status status = ProbeGpu(static_cast<int>(inventory->devices.size()) + 7);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
}

}  // namespace
}  // namespace ftd
