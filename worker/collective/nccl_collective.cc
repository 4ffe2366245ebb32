// NcclCollective: a non-blocking NCCL communicator on one CUDA device with its own stream; every wait (the
// communicator's creation, each operation) is a poll bounded by a deadline, and a failure aborts the communicator.
// This file is the one place NCCL results become absl::Status (FromNccl / NCCL_RETURN_IF_ERROR); CUDA runtime
// errors go through kernels/cuda/cuda_status.h.
#include "worker/collective/nccl_collective.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "kernels/cuda/cuda_status.h"

namespace ftd {
namespace {

// ncclInProgress is not an error: a non-blocking communicator answers it while an operation is still being set up,
// and the caller polls (NcclCollective::WaitIdle).
bool IsNcclError(ncclResult_t result) { return result != ncclSuccess && result != ncclInProgress; }

// Maps an NCCL result by what the caller should do (OK for success and ncclInProgress, see above). A lost
// peer or network (system, remote, internal errors) is UNAVAILABLE: this communicator is gone, a new attempt may
// work. A CUDA fault under NCCL is INTERNAL; misuse of the API is INVALID_ARGUMENT / FAILED_PRECONDITION.
absl::Status FromNccl(ncclResult_t result, absl::string_view what) {
  if (!IsNcclError(result)) return absl::OkStatus();
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  switch (result) {
    case ncclInvalidArgument: code = absl::StatusCode::kInvalidArgument; break;
    case ncclInvalidUsage: code = absl::StatusCode::kFailedPrecondition; break;
    case ncclUnhandledCudaError: code = absl::StatusCode::kInternal; break;
    default: break;
  }
  std::string message = absl::StrCat(what, ": ", ncclGetErrorString(result));
  // NCCL keeps one process-wide last-error text (its `comm` argument is unused); it says which peer or call failed.
  const char* detail = ncclGetLastError(nullptr);
  if (detail != nullptr && detail[0] != '\0') absl::StrAppend(&message, " (", detail, ")");
  return absl::Status(code, message);
}

}  // namespace
}  // namespace ftd

#define NCCL_RETURN_IF_ERROR(expr)                                     \
  do {                                                                 \
    ::absl::Status ftd_nccl_status_ = ::ftd::FromNccl((expr), #expr);  \
    if (!ftd_nccl_status_.ok()) return ftd_nccl_status_;               \
  } while (false)

namespace ftd {
namespace {

constexpr absl::string_view kUniqueIdKey = "nccl_unique_id";
// How long the destructor lets ncclCommFinalize flush before it aborts instead: destruction never hangs.
constexpr absl::Duration kFinalizeTimeout = absl::Seconds(10);

// Sleeps between polls: 20 us at first (a small all-reduce within one node finishes in tens of microseconds),
// doubling up to 1 ms so that a long wait does not spin a core.
class PollBackoff {
 public:
  void Sleep() {
    absl::SleepFor(next_);
    next_ = std::min(next_ * 2, absl::Milliseconds(1));
  }

 private:
  absl::Duration next_ = absl::Microseconds(20);
};

// The machine has CUDA device `device`, or FAILED_PRECONDITION saying why not.
absl::Status RequireDevice(int device) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    const absl::Status why = FromCuda(error, "cudaGetDeviceCount");
    (void)cudaGetLastError();  // Clear the runtime's last-error slot so that later calls start clean.
    return absl::FailedPreconditionError(absl::StrCat("no CUDA device: ", why.message()));
  }
  if (count == 0) return absl::FailedPreconditionError("no CUDA device: the CUDA driver reports none");
  if (device >= count) {
    return absl::FailedPreconditionError(
        absl::StrCat("nccl: CUDA device ", device, " not present (this machine has ", count, ")"));
  }
  return absl::OkStatus();
}

enum class Drain { kCommunicatorOnly, kStreamToo };

// One rank's endpoint. Lifecycle: constructed empty by ConnectNccl, Start creates the stream, the barrier's float
// and the communicator; the destructor finalises and destroys the communicator (or aborts it when it failed or
// does not finalise in time), then frees the rest. Every call returns only when its operation has finished on
// stream_, so nothing is in flight between calls. Not thread-safe.
class NcclCollective final : public Collective {
 public:
  NcclCollective(int rank, int world_size, int device) : rank_(rank), world_size_(world_size), device_(device) {}
  NcclCollective(const NcclCollective&) = delete;
  NcclCollective& operator=(const NcclCollective&) = delete;

  ~NcclCollective() override {
    if (comm_ != nullptr) {
      if (ready_ && Finalize()) {
        (void)ncclCommDestroy(comm_);
      } else {
        (void)ncclCommAbort(comm_);
      }
    }
    if (barrier_value_ != nullptr) (void)cudaFree(barrier_value_);
    if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
  }

  // Joins the communicator of `id` by `deadline` (`timeout` after the connect began: for the message). On failure
  // the communicator is aborted and the object only waits to be destroyed.
  absl::Status Start(const ncclUniqueId& id, absl::Time deadline, absl::Duration timeout, absl::string_view key) {
    absl::Status status = [&]() -> absl::Status {
      CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      CUDA_RETURN_IF_ERROR(cudaMalloc(&barrier_value_, sizeof(float)));
      // On stream_ itself: a non-blocking stream is not ordered after the legacy stream a plain cudaMemset uses.
      CUDA_RETURN_IF_ERROR(cudaMemsetAsync(barrier_value_, 0, sizeof(float), stream_));
      ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
      config.blocking = 0;  // Creation returns at once; WaitIdle polls it, so a missing peer cannot hang us.
      NCCL_RETURN_IF_ERROR(ncclCommInitRankConfig(&comm_, world_size_, id, rank_, &config));
      return WaitIdle(deadline, Drain::kStreamToo, timeout, [&] {
        return absl::StrCat("nccl connect: waiting for all ", world_size_,
                            " ranks to join the communicator (unique id under \"", key, "\")");
      });
    }();
    if (status.ok()) {
      ready_ = true;
    } else {
      Fail(status);
    }
    return status;
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }

  absl::Status AllReduce(float* data, int64_t count, ReduceOp op, absl::Duration timeout) override {
    return Reduce("all_reduce", data, count, ncclFloat32, op, timeout);
  }

  absl::Status AllReduceBf16(uint16_t* data, int64_t count, ReduceOp op, absl::Duration timeout) override {
    return Reduce("all_reduce_bf16", data, count, ncclBfloat16, op, timeout);
  }

  absl::Status Broadcast(float* data, int64_t count, int root, absl::Duration timeout) override {
    if (root < 0 || root >= world_size_) {
      return absl::InvalidArgumentError(
          absl::StrCat("nccl broadcast: root ", root, " outside [0, ", world_size_, ")"));
    }
    RETURN_IF_ERROR(CheckBuffer("broadcast", data, count));
    if (!broken_.ok()) return Broken();
    if (count == 0) return absl::OkStatus();
    RETURN_IF_ERROR(CheckDevicePointer("broadcast", data));
    return Run("broadcast", timeout, [&] {
      return ncclBroadcast(data, data, static_cast<size_t>(count), ncclFloat32, root, comm_, stream_);
    });
  }

  absl::Status Barrier(absl::Duration timeout) override {
    if (!broken_.ok()) return Broken();
    return Run("barrier", timeout, [&] {
      return ncclAllReduce(barrier_value_, barrier_value_, 1, ncclFloat32, ncclSum, comm_, stream_);
    });
  }

 private:
  absl::Status Reduce(absl::string_view what, void* data, int64_t count, ncclDataType_t type, ReduceOp op,
                      absl::Duration timeout) {
    RETURN_IF_ERROR(CheckBuffer(what, data, count));
    if (!broken_.ok()) return Broken();
    if (count == 0) return absl::OkStatus();
    RETURN_IF_ERROR(CheckDevicePointer(what, data));
    const ncclRedOp_t nccl_op = op == ReduceOp::kAvg ? ncclAvg : ncclSum;
    return Run(what, timeout, [&] {
      return ncclAllReduce(data, data, static_cast<size_t>(count), type, nccl_op, comm_, stream_);
    });
  }

  // Enqueues one operation (`enqueue` returns its ncclResult_t) and waits for it; a failure breaks the endpoint.
  template <typename Enqueue>
  absl::Status Run(absl::string_view what, absl::Duration timeout, Enqueue enqueue) {
    const absl::Time deadline = absl::Now() + timeout;
    const auto describe = [&] { return absl::StrCat("nccl ", what); };
    const ncclResult_t enqueued = enqueue();
    absl::Status status = IsNcclError(enqueued) ? FromNccl(enqueued, Describe(describe))
                                                : WaitIdle(deadline, Drain::kStreamToo, timeout, describe);
    if (!status.ok()) Fail(status);
    return status;
  }

  // Polls until the communicator has nothing in progress and, with Drain::kStreamToo, stream_ has finished its
  // work. An asynchronous NCCL error or a CUDA error comes back as such; `deadline` passing is DEADLINE_EXCEEDED
  // naming what was waited for (`describe()`, built only on error) and `timeout`.
  absl::Status WaitIdle(absl::Time deadline, Drain drain, absl::Duration timeout,
                        absl::FunctionRef<std::string()> describe) {
    PollBackoff backoff;
    while (true) {
      ncclResult_t state = ncclSuccess;
      NCCL_RETURN_IF_ERROR(ncclCommGetAsyncError(comm_, &state));
      if (IsNcclError(state)) return FromNccl(state, Describe(describe));
      // While the state is ncclInProgress the operation may not be on the stream yet: an empty stream proves nothing.
      if (state == ncclSuccess) {
        if (drain == Drain::kCommunicatorOnly) return absl::OkStatus();
        const cudaError_t query = cudaStreamQuery(stream_);
        if (query == cudaSuccess) return absl::OkStatus();
        if (query != cudaErrorNotReady) return FromCuda(query, "cudaStreamQuery");
      }
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat(describe(), ": not done within ",
                                                        absl::FormatDuration(timeout), " (rank ", rank_, " of ",
                                                        world_size_, "; a peer is missing or stalled)"));
      }
      backoff.Sleep();
    }
  }

  // Flushes the communicator before its destruction; false when that fails or does not finish in time.
  bool Finalize() {
    if (!FromNccl(ncclCommFinalize(comm_), "ncclCommFinalize").ok()) return false;
    return WaitIdle(absl::Now() + kFinalizeTimeout, Drain::kCommunicatorOnly, kFinalizeTimeout,
                    [] { return std::string("nccl finalize"); })
        .ok();
  }

  // "<what> (rank r of n)": the prefix of this endpoint's NCCL error messages.
  std::string Describe(absl::FunctionRef<std::string()> what) const {
    return absl::StrCat(what(), " (rank ", rank_, " of ", world_size_, ")");
  }

  static absl::Status CheckBuffer(absl::string_view what, const void* data, int64_t count) {
    if (count < 0) return absl::InvalidArgumentError(absl::StrCat("nccl ", what, ": count ", count, " < 0"));
    if (count > 0 && data == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("nccl ", what, ": null buffer for ", count, " elements"));
    }
    return absl::OkStatus();
  }

  // NCCL reads and writes `data` from the GPU: a host pointer would fault the device (or hang the peers), so it is
  // refused here, before NCCL sees it.
  absl::Status CheckDevicePointer(absl::string_view what, const void* data) const {
    cudaPointerAttributes attributes;
    CUDA_RETURN_IF_ERROR(cudaPointerGetAttributes(&attributes, data));
    if (attributes.type == cudaMemoryTypeManaged) return absl::OkStatus();
    if (attributes.type != cudaMemoryTypeDevice) {
      return absl::InvalidArgumentError(absl::StrCat("nccl ", what, ": data is not device memory (the NCCL "
                                                     "collective takes pointers allocated on CUDA device ",
                                                     device_, ")"));
    }
    if (attributes.device != device_) {
      return absl::InvalidArgumentError(absl::StrCat("nccl ", what, ": data is on CUDA device ", attributes.device,
                                                     ", the collective on device ", device_));
    }
    return absl::OkStatus();
  }

  absl::Status Broken() const {
    return absl::FailedPreconditionError(
        absl::StrCat("collective unusable after an earlier error: ", broken_.message()));
  }

  // Aborts the communicator (its kernels quit, its threads stop) and remembers the first error.
  void Fail(const absl::Status& status) {
    if (comm_ != nullptr) {
      (void)ncclCommAbort(comm_);
      comm_ = nullptr;
    }
    if (broken_.ok()) broken_ = status;
  }

  const int rank_;
  const int world_size_;
  const int device_;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  float* barrier_value_ = nullptr;  // (1) on device_: what Barrier all-reduces.
  bool ready_ = false;              // The communicator finished its creation.
  absl::Status broken_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Collective>> ConnectNccl(const NcclOptions& options, RendezvousStore& store) {
  // Arguments first, before any CUDA call: these errors must not depend on the machine.
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("nccl: rank ", options.rank, " outside a world of ", options.world_size));
  }
  if (options.device < 0) {
    return absl::InvalidArgumentError(absl::StrCat("nccl: CUDA device ", options.device, " < 0"));
  }
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("nccl: connect_timeout ",
                                                   absl::FormatDuration(options.connect_timeout), " is not positive"));
  }
  const absl::Time deadline = absl::Now() + options.connect_timeout;
  RETURN_IF_ERROR(RequireDevice(options.device));
  CUDA_RETURN_IF_ERROR(cudaSetDevice(options.device));

  // Rank 0 makes the id (NCCL's bootstrap root listens in this process); the others read it from the store.
  const std::string key = absl::StrCat(options.prefix, kUniqueIdKey);
  ncclUniqueId id;
  if (options.rank == 0) {
    NCCL_RETURN_IF_ERROR(ncclGetUniqueId(&id));
    RETURN_IF_ERROR_CONTEXT(store.Set(key, absl::string_view(id.internal, sizeof(id.internal))),
                            "nccl: publishing the unique id");
  } else {
    ASSIGN_OR_RETURN_CONTEXT(const std::string value,
                             store.Wait(key, std::max(deadline - absl::Now(), absl::ZeroDuration())),
                             absl::StrCat("nccl rank ", options.rank, " of ", options.world_size,
                                          ": waiting for rank 0's unique id"));
    if (value.size() != sizeof(id.internal)) {
      return absl::DataLossError(absl::StrCat("nccl: the unique id under \"", key, "\" has ", value.size(),
                                              " bytes, not ", sizeof(id.internal)));
    }
    std::memcpy(id.internal, value.data(), sizeof(id.internal));
  }

  auto collective = std::make_unique<NcclCollective>(options.rank, options.world_size, options.device);
  RETURN_IF_ERROR(collective->Start(id, deadline, options.connect_timeout, key));
  return std::unique_ptr<Collective>(std::move(collective));
}

}  // namespace ftd
