// What GPUs this process can use: the inventory ftd-worker reports when it registers, and the first real
// CUDA unit of the build. The CUDA implementation is kernels/cuda/device_query.cu; builds without CUDA
// compile kernels/device_query_none.cc, which reports that CUDA is not compiled in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ftd {

struct GpuDevice {
  int index = 0;                    // CUDA device ordinal.
  std::string name;                 // e.g. "NVIDIA H200".
  int compute_major = 0;            // Compute capability, e.g. 9 for sm_90.
  int compute_minor = 0;
  int64_t total_memory_bytes = 0;   // Device memory, bytes.
  int multiprocessors = 0;          // SM count.
  std::string pci_bus_id;           // "0000:1b:00.0".
};

struct GpuInventory {
  std::vector<GpuDevice> devices;
  // Why `devices` is empty ("CUDA not compiled in", "no CUDA driver", "no CUDA device"); empty when devices
  // were found.
  std::string unavailable_reason;
};

// Lists the usable GPUs. No GPU or no driver is not an error: it gives an empty inventory with a reason.
// Errors are only for a driver that is present but fails.
absl::StatusOr<GpuInventory> QueryGpus();

// Runs a small kernel on device `index` (writes i*i into n ints, reads them back, checks them) to prove that
// the device code built for this GPU's architecture loads and runs. FAILED_PRECONDITION without CUDA.
absl::Status ProbeGpu(int index);

// True when this binary was built with CUDA.
bool CudaCompiledIn();

}  // namespace ftd
