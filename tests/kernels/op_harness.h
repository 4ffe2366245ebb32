// The op harness (in the spirit of ggml's test-backend-ops): each OpCase runs one op on a backend with fresh
// random inputs, compares the forward to a double-precision reference by NMSE and the backward to central
// finite differences of that reference; an op a backend lacks is reported "not supported", not skipped.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/kernels.h"
#include "tests/kernels/reference_ops.h"

namespace ftd::testing {

// Device buffers of one case run, freed with the arena. Every transfer goes through the Backend, so the
// same case runs on any backend.
class Arena {
 public:
  explicit Arena(Backend& backend) : backend_(backend) {}
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  ~Arena();

  absl::StatusOr<float*> Floats(int64_t n);
  absl::StatusOr<float*> Upload(const std::vector<float>& host);
  absl::StatusOr<int32_t*> UploadInts(const std::vector<int32_t>& host);
  // Raw 16-bit words (a bf16 weight's bits).
  absl::StatusOr<uint16_t*> UploadU16(const std::vector<uint16_t>& host);
  absl::StatusOr<std::vector<float>> Download(const float* device, int64_t n);

 private:
  Backend& backend_;
  std::vector<void*> buffers_;
};

// Forward: fp32 against a double reference. fp32 rounding is ~6e-8 relative per value (NMSE ~4e-15); sums
// over up to a few hundred terms grow that by at most ~1e3, so 1e-10 still catches any wrong index or term.
inline constexpr double kForwardNmse = 1e-10;
// Backward: the op's fp32 gradient against a central difference (h = 1e-4) of the double reference. The
// difference's own error is ~h^2 (~1e-8 relative, NMSE ~1e-16); the rest is fp32 rounding, larger than the
// forward's because gradients subtract nearly equal terms (RMSNorm, softmax): 1e-8.
inline constexpr double kBackwardNmse = 1e-8;

// One float input of a case: random uniform in [lo, hi] unless the case's Prepare changes it.
struct InputSpec {
  std::string name;
  int64_t size = 0;
  bool differentiable = false;
  bool grad_accumulates = false;  // The op adds into this gradient (parameters) instead of overwriting it.
  double lo = -1.0;
  double hi = 1.0;
};

// One op on one shape. Forward and Backward run on a backend within one Arena (saved state lives in members
// allocated there); Reference is the double-precision math they must match.
class OpCase {
 public:
  virtual ~OpCase() = default;

  std::string op;      // "rmsnorm"
  std::string params;  // "rows=7,dim=33"
  std::vector<InputSpec> inputs;
  std::vector<int64_t> output_sizes;
  bool has_backward = true;
  // The backward takes one gradient scale for all outputs (cross-entropy's grad_scale), not a per-element dout.
  bool scalar_dout = false;
  double scalar_dout_value = 0.0;  // Set by the harness when scalar_dout.
  // The NMSE each side must stay under: fp32's (above) unless the op's contract allows a backend less precision
  // (a bf16 op), in which case the case says why beside the value it sets.
  double forward_threshold = kForwardNmse;
  double backward_threshold = kBackwardNmse;

  // Adjusts the random inputs (e.g. a variance that must be >= 0); values are rounded to fp32 afterwards.
  virtual void Prepare(std::vector<Vec>& in, std::mt19937_64& rng) {
    (void)in;
    (void)rng;
  }
  virtual std::vector<Vec> Reference(const std::vector<Vec>& in) const = 0;
  virtual absl::Status Forward(Backend& be, Arena& arena, const std::vector<float*>& in,
                               const std::vector<float*>& out) = 0;
  // douts: one per output; grads: one per input, null for non-differentiable inputs.
  virtual absl::Status Backward(Backend& be, Arena& arena, const std::vector<float*>& in,
                                const std::vector<float*>& douts, const std::vector<float*>& grads) {
    (void)be, (void)arena, (void)in, (void)douts, (void)grads;
    return absl::UnimplementedError("no backward");
  }
};

enum class Verdict { kPass, kFail, kNotSupported, kNone };

struct CaseResult {
  std::string op;
  std::string params;
  Verdict forward = Verdict::kNone;
  Verdict backward = Verdict::kNone;  // kNone: the op has no backward to check.
  double forward_nmse = 0.0;
  double backward_nmse = 0.0;
  std::string message;  // Why it failed.
};

// Normalised MSE sum((a-b)^2) / sum(b^2); when the reference is all zeros, the plain sum of squared errors.
double Nmse(const std::vector<double>& actual, const std::vector<double>& expected);

// Runs one case on one backend with inputs drawn from rng.
CaseResult RunCase(OpCase& c, Backend& backend, std::mt19937_64& rng);

// All cases of all ops (op_cases.cc).
std::vector<std::unique_ptr<OpCase>> AllOpCases();

// A table of one line per case and a summary per op, like test-backend-ops.
std::string FormatResults(const std::string& backend, const std::vector<CaseResult>& results);

}  // namespace ftd::testing
