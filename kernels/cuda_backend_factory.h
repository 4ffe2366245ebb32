// Making the CUDA backend where there is one: kernels/cuda/cuda_backend.cc in builds with CUDA and cuBLAS,
// cuda_backend_none.cc (which says what the build lacks) otherwise. The registry calls it the first time "cuda" is asked for, so a
// process that never asks (a CPU worker on a GPU host) never creates a CUDA context.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "kernels/kernels.h"

namespace ftd {

// The backend on the current CUDA device; FAILED_PRECONDITION naming why there is none.
absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend();

}  // namespace ftd
