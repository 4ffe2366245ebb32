// The one place CUDA runtime errors become absl::Status: CUDA_RETURN_IF_ERROR(cudaMalloc(...)).
#pragma once

#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ftd {

// Maps a CUDA runtime error to a status code by what the caller should do: out of memory is
// RESOURCE_EXHAUSTED (a deterministic failure for a job), a missing driver or device FAILED_PRECONDITION,
// anything else INTERNAL.
inline absl::Status FromCuda(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return absl::OkStatus();
  absl::StatusCode code = absl::StatusCode::kInternal;
  switch (error) {
    case cudaErrorMemoryAllocation: code = absl::StatusCode::kResourceExhausted; break;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice: code = absl::StatusCode::kFailedPrecondition; break;
    default: break;
  }
  return absl::Status(code, absl::StrCat(what, ": ", cudaGetErrorName(error), " (", cudaGetErrorString(error), ")"));
}

}  // namespace ftd

#define CUDA_RETURN_IF_ERROR(expr)                                     \
  do {                                                                 \
    ::absl::Status ftd_cuda_status_ = ::ftd::FromCuda((expr), #expr);  \
    if (!ftd_cuda_status_.ok()) return ftd_cuda_status_;               \
  } while (false)
