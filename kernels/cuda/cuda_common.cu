// The status conversions every kernels/cuda op shares: cuBLAS's status (FromCublas) and a kernel launch's error
// (LaunchStatus), so each foreign error becomes absl::Status in exactly one place.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/cuda_status.h"

namespace ftd::cuda {

absl::Status FromCublas(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  // Out of memory is a deterministic failure for the job (as FromCuda's), anything else a bug or a broken device.
  const absl::StatusCode code = status == CUBLAS_STATUS_ALLOC_FAILED ? absl::StatusCode::kResourceExhausted
                                                                     : absl::StatusCode::kInternal;
  return absl::Status(code,
                      absl::StrCat(what, ": ", cublasGetStatusName(status), " (", cublasGetStatusString(status), ")"));
}

absl::Status LaunchStatus(const char* kernel) { return FromCuda(cudaGetLastError(), kernel); }

}  // namespace ftd::cuda
