// The backend registry: "cpu" always; "cuda" in CUDA builds on a machine with a device, made the first time it is
// asked for (GetBackend("cuda") or RegisteredBackends()); plus any a test or an out-of-tree backend registers. Built
// on first use (no static initialisers that a static link could drop).
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda_backend_factory.h"
#include "kernels/kernels.h"

namespace ftd {
namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::unique_ptr<Backend>> backends;  // In registration order, "cpu" first.
  bool cuda_tried = false;
  absl::Status cuda_missing;  // Why there is no "cuda" backend, once tried.
};

// Adds the CUDA backend on first call where the build and the machine have one. Holds r.mu.
void TryCuda(Registry& r) {
  if (r.cuda_tried) return;
  r.cuda_tried = true;
  absl::StatusOr<std::unique_ptr<Backend>> cuda = MakeCudaBackend();
  if (cuda.ok()) {
    r.backends.push_back(std::move(*cuda));
  } else {
    r.cuda_missing = cuda.status();
  }
}

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry;
    r->backends.push_back(std::make_unique<cpu::CpuBackend>());
    return r;
  }();
  return *registry;
}

}  // namespace

absl::StatusOr<Backend*> GetBackend(absl::string_view name) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (name == "cuda") TryCuda(r);
  std::vector<std::string> names;
  for (const auto& b : r.backends) {
    if (b->name() == name) return b.get();
    names.emplace_back(b->name());
  }
  if (name == "cuda") return absl::FailedPreconditionError(absl::StrCat("no cuda backend: ", r.cuda_missing.message()));
  return absl::NotFoundError(
      absl::StrCat("no compute backend named '", name, "' (registered: ", absl::StrJoin(names, ", "), ")"));
}

std::vector<std::string> RegisteredBackends() {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  TryCuda(r);
  std::vector<std::string> names;
  for (const auto& b : r.backends) names.emplace_back(b->name());
  return names;
}

absl::Status RegisterBackend(std::unique_ptr<Backend> backend) {
  if (backend == nullptr) return absl::InvalidArgumentError("RegisterBackend: backend is null");
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (const auto& b : r.backends) {
    if (b->name() == backend->name()) {
      return absl::AlreadyExistsError(absl::StrCat("a compute backend named '", backend->name(),
                                                   "' is already registered"));
    }
  }
  r.backends.push_back(std::move(backend));
  return absl::OkStatus();
}

}  // namespace ftd
