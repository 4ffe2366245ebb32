// QueryGpus/ProbeGpu for builds without CUDA (FTD_CUDA=OFF or no nvcc): no GPU, and a reason that says why.
#include "kernels/device_query.h"

namespace ftd {

absl::StatusOr<GpuInventory> QueryGpus() {
  GpuInventory inventory;
  inventory.unavailable_reason = "this build has no CUDA (configured with FTD_CUDA=OFF or without nvcc)";
  return inventory;
}

absl::Status ProbeGpu(int index) {
  (void)index;
  return absl::FailedPreconditionError("this build has no CUDA (configured with FTD_CUDA=OFF or without nvcc)");
}

bool CudaCompiledIn() { return false; }

}  // namespace ftd
