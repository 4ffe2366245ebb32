// MakeCudaBackend in builds without a CUDA backend (no CUDA, or no cuBLAS): the reason comes from CMake.
#include "kernels/cuda_backend_factory.h"

namespace ftd {

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend() {
  return absl::FailedPreconditionError(FTD_NO_CUDA_BACKEND_WHY);
}

}  // namespace ftd
