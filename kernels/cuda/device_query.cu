// QueryGpus/ProbeGpu on the CUDA runtime: the device inventory ftd-worker reports, and a probe kernel that
// proves the sm_90 device code of this build loads and runs.
#include <cuda_runtime.h>

#include <string>

#include "absl/strings/str_format.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/device_query.h"

namespace ftd {
namespace {

__global__ void SquareIndexKernel(int* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = i * i;
}

// Frees a device buffer on every return path of ProbeGpu.
struct DeviceBuffer {
  int* ptr = nullptr;
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
};

}  // namespace

absl::StatusOr<GpuInventory> QueryGpus() {
  GpuInventory inventory;
  int count = 0;
  cudaError_t error = cudaGetDeviceCount(&count);
  if (error == cudaErrorNoDevice || error == cudaErrorInsufficientDriver) {
    inventory.unavailable_reason = absl::StrFormat("no usable CUDA device: %s", cudaGetErrorString(error));
    cudaGetLastError();  // Reset the runtime's last-error slot so later calls start clean.
    return inventory;
  }
  CUDA_RETURN_IF_ERROR(error);
  if (count == 0) {
    inventory.unavailable_reason = "the CUDA driver reports no device";
    return inventory;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, i));
    char bus_id[32] = {};
    CUDA_RETURN_IF_ERROR(cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), i));
    GpuDevice device;
    device.index = i;
    device.name = prop.name;
    device.compute_major = prop.major;
    device.compute_minor = prop.minor;
    device.total_memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
    device.multiprocessors = prop.multiProcessorCount;
    device.pci_bus_id = bus_id;
    inventory.devices.push_back(std::move(device));
  }
  return inventory;
}

absl::Status ProbeGpu(int index) {
  constexpr int kCount = 4096;
  CUDA_RETURN_IF_ERROR(cudaSetDevice(index));
  DeviceBuffer buffer;
  CUDA_RETURN_IF_ERROR(cudaMalloc(&buffer.ptr, kCount * sizeof(int)));
  SquareIndexKernel<<<(kCount + 255) / 256, 256>>>(buffer.ptr, kCount);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  std::vector<int> host(kCount, -1);
  CUDA_RETURN_IF_ERROR(cudaMemcpy(host.data(), buffer.ptr, kCount * sizeof(int), cudaMemcpyDeviceToHost));
  for (int i = 0; i < kCount; ++i) {
    if (host[i] != i * i) {
      return absl::InternalError(absl::StrFormat("probe kernel on device %d wrote %d at %d, want %d", index,
                                                 host[i], i, i * i));
    }
  }
  return absl::OkStatus();
}

bool CudaCompiledIn() { return true; }

}  // namespace ftd
