// Host values through the collective: direct, or staged through one backend buffer for the call.
#include "worker/train/host_collective.h"

#include "absl/cleanup/cleanup.h"
#include "common/status_macros.h"

namespace ftd {
namespace {

// Runs `call` on a backend copy of data (n) and copies the result back.
template <typename Call>
absl::Status Staged(Backend& backend, float* data, int64_t n, Call call) {
  const int64_t bytes = n * static_cast<int64_t>(sizeof(float));
  ASSIGN_OR_RETURN(void* staged, backend.Allocate(bytes));
  absl::Cleanup free = [&backend, staged] { backend.Free(staged).IgnoreError(); };
  RETURN_IF_ERROR(backend.CopyToDevice(staged, data, bytes));
  RETURN_IF_ERROR(call(static_cast<float*>(staged)));
  return backend.CopyToHost(data, staged, bytes);
}

}  // namespace

absl::Status AllReduceHost(Collective& collective, Backend& backend, float* data, int64_t n, ReduceOp op,
                           absl::Duration timeout) {
  if (backend.host_memory()) return collective.AllReduce(data, n, op, timeout);
  return Staged(backend, data, n, [&](float* staged) { return collective.AllReduce(staged, n, op, timeout); });
}

absl::Status BroadcastHost(Collective& collective, Backend& backend, float* data, int64_t n, int root,
                           absl::Duration timeout) {
  if (backend.host_memory()) return collective.Broadcast(data, n, root, timeout);
  return Staged(backend, data, n, [&](float* staged) { return collective.Broadcast(staged, n, root, timeout); });
}

}  // namespace ftd
