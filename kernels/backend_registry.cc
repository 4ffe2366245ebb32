// The backend registry: "cpu" always, "cuda" in CUDA builds once that backend exists, plus any a test or an
// out-of-tree backend registers. Built on first use (no static initialisers that a static link could drop).
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/kernels.h"

namespace ftd {
namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::unique_ptr<Backend>> backends;  // In registration order, "cpu" first.
};

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry;
    r->backends.push_back(std::make_unique<cpu::CpuBackend>());
    // A CUDA build adds its backend here: r->backends.push_back(std::make_unique<cuda::CudaBackend>()).
    return r;
  }();
  return *registry;
}

}  // namespace

absl::StatusOr<Backend*> GetBackend(absl::string_view name) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> names;
  for (const auto& b : r.backends) {
    if (b->name() == name) return b.get();
    names.emplace_back(b->name());
  }
  return absl::NotFoundError(
      absl::StrCat("no compute backend named '", name, "' (registered: ", absl::StrJoin(names, ", "), ")"));
}

std::vector<std::string> RegisteredBackends() {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
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
