// GlooCollective: gloo::rendezvous::Context over a store adapter, gloo::allreduce / broadcast / barrier.
#include "worker/collective/gloo_collective.h"

#include <chrono>
#include <exception>
#include <stdexcept>
#include <functional>
#include <vector>

#include "absl/strings/match.h"
#include "common/status_macros.h"
#include "absl/strings/str_cat.h"
#include "gloo/allreduce.h"
#include "gloo/barrier.h"
#include "gloo/broadcast.h"
#include "gloo/math.h"
#include "gloo/rendezvous/context.h"
#include "gloo/rendezvous/store.h"
#include "gloo/transport/tcp/device.h"
#include "model/dtype.h"

namespace ftd {
namespace {

std::chrono::milliseconds ToChrono(absl::Duration d) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

// The one place Gloo's exceptions become statuses.
absl::Status GlooCall(absl::string_view what, const std::function<void()>& call) {
  try {
    call();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    const std::string message = absl::StrCat("gloo ", what, ": ", e.what());
    if (absl::StrContains(e.what(), "Timed out") || absl::StrContains(e.what(), "timed out") ||
        absl::StrContains(e.what(), "not set within")) {
      return absl::DeadlineExceededError(message);
    }
    return absl::UnavailableError(message);
  }
}

// Gloo's store interface over ours; Gloo expects exceptions from it.
class StoreAdapter final : public gloo::rendezvous::Store {
 public:
  StoreAdapter(RendezvousStore& store, std::string prefix, absl::Duration timeout)
      : store_(store), prefix_(std::move(prefix)), timeout_(timeout) {}

  void set(const std::string& key, const std::vector<char>& data) override {
    const absl::Status status = store_.Set(prefix_ + key, absl::string_view(data.data(), data.size()));
    if (!status.ok()) throw std::runtime_error(std::string(status.message()));
  }
  std::vector<char> get(const std::string& key) override {
    absl::StatusOr<std::string> value = store_.Wait(prefix_ + key, timeout_);
    if (!value.ok()) throw std::runtime_error(std::string(value.status().message()));
    return std::vector<char>(value->begin(), value->end());
  }
  void wait(const std::vector<std::string>& keys) override { wait(keys, ToChrono(timeout_)); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override {
    for (const std::string& key : keys) {
      absl::StatusOr<std::string> value = store_.Wait(prefix_ + key, absl::Milliseconds(timeout.count()));
      if (!value.ok()) throw std::runtime_error(std::string(value.status().message()));
    }
  }

 private:
  RendezvousStore& store_;
  std::string prefix_;
  absl::Duration timeout_;
};

// Gloo's reduce function for bf16: c = bf16(a + b) element-wise, the sum in fp32.
void Bf16Sum(void* c, const void* a, const void* b, size_t n) {
  auto* out = static_cast<uint16_t*>(c);
  const auto* x = static_cast<const uint16_t*>(a);
  const auto* y = static_cast<const uint16_t*>(b);
  for (size_t i = 0; i < n; ++i) out[i] = F32ToBf16(Bf16ToF32(x[i]) + Bf16ToF32(y[i]));
}

class GlooCollective final : public Collective {
 public:
  explicit GlooCollective(std::shared_ptr<gloo::rendezvous::Context> context) : context_(std::move(context)) {}

  int rank() const override { return context_->rank; }
  int world_size() const override { return context_->size; }

  absl::Status AllReduce(float* data, int64_t count, ReduceOp op, absl::Duration timeout) override {
    RETURN_IF_ERROR(Sum(data, count, &gloo::sum<float>, timeout));
    if (op == ReduceOp::kAvg) {
      const float inv = 1.0f / static_cast<float>(world_size());
      for (int64_t i = 0; i < count; ++i) data[i] *= inv;
    }
    return absl::OkStatus();
  }

  absl::Status AllReduceBf16(uint16_t* data, int64_t count, ReduceOp op, absl::Duration timeout) override {
    RETURN_IF_ERROR(Sum(data, count, &Bf16Sum, timeout));
    if (op == ReduceOp::kAvg) {
      const float inv = 1.0f / static_cast<float>(world_size());
      for (int64_t i = 0; i < count; ++i) data[i] = F32ToBf16(Bf16ToF32(data[i]) * inv);
    }
    return absl::OkStatus();
  }

  absl::Status Broadcast(float* data, int64_t count, int root, absl::Duration timeout) override {
    if (root < 0 || root >= world_size()) {
      return absl::InvalidArgumentError(absl::StrCat("broadcast: root ", root, " outside [0, ", world_size(), ")"));
    }
    if (count < 0 || (count > 0 && data == nullptr)) return absl::InvalidArgumentError("broadcast: bad buffer");
    if (!broken_.ok()) return Broken();
    if (count == 0 || world_size() == 1) return absl::OkStatus();
    gloo::BroadcastOptions opts(context_);
    opts.setOutput(data, static_cast<size_t>(count));
    opts.setRoot(root);
    opts.setTimeout(ToChrono(timeout));
    return Record(GlooCall("broadcast", [&] { gloo::broadcast(opts); }));
  }

  absl::Status Barrier(absl::Duration timeout) override {
    if (!broken_.ok()) return Broken();
    if (world_size() == 1) return absl::OkStatus();
    gloo::BarrierOptions opts(context_);
    opts.setTimeout(ToChrono(timeout));
    return Record(GlooCall("barrier", [&] { gloo::barrier(opts); }));
  }

 private:
  // The element-wise sum over the ranks of data (count) of T, in place, with Gloo's reduce function `add`.
  template <typename T>
  absl::Status Sum(T* data, int64_t count, void (*add)(void*, const void*, const void*, size_t),
                   absl::Duration timeout) {
    if (count < 0 || (count > 0 && data == nullptr)) return absl::InvalidArgumentError("all_reduce: bad buffer");
    if (!broken_.ok()) return Broken();
    if (count == 0 || world_size() == 1) return absl::OkStatus();
    gloo::AllreduceOptions opts(context_);
    opts.setOutput(data, static_cast<size_t>(count));
    opts.setReduceFunction(add);
    opts.setTimeout(ToChrono(timeout));
    return Record(GlooCall("all_reduce", [&] { gloo::allreduce(opts); }));
  }

  absl::Status Broken() const {
    return absl::FailedPreconditionError(absl::StrCat("collective unusable after an earlier error: ",
                                                      broken_.message()));
  }
  absl::Status Record(absl::Status status) {
    if (!status.ok()) broken_ = status;
    return status;
  }

  std::shared_ptr<gloo::rendezvous::Context> context_;
  absl::Status broken_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Collective>> ConnectGloo(const GlooOptions& options, RendezvousStore& store) {
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("gloo: rank ", options.rank, " outside a world of ", options.world_size));
  }
  std::shared_ptr<gloo::rendezvous::Context> context;
  RETURN_IF_ERROR(GlooCall("connect", [&] {
    gloo::transport::tcp::attr attr(options.hostname.c_str());
    std::shared_ptr<gloo::transport::Device> device = gloo::transport::tcp::CreateDevice(attr);
    context = std::make_shared<gloo::rendezvous::Context>(options.rank, options.world_size);
    context->setTimeout(ToChrono(options.connect_timeout));
    StoreAdapter adapter(store, options.prefix, options.connect_timeout);
    context->connectFullMesh(adapter, device);
  }));
  return std::make_unique<GlooCollective>(std::move(context));
}

}  // namespace ftd
