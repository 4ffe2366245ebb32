// AdamW over a model's trainable parameters, as torch.optim.AdamW (decoupled weight decay, bias correction)
// preceded by torch.nn.utils.clip_grad_norm_: the optimiser step of the training loop.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/llama/llama_model.h"

namespace ftd {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // Applied to every trained tensor, as one torch param group.
  double max_grad_norm = 1.0;  // Global L2 clipping threshold; 0 disables clipping.
};

// Moments live on the model's backend beside the parameters. One instance per training run; not thread-safe.
class AdamWOptimizer {
 public:
  // Zeroed moments for every tensor `grads` holds (the trainable set).
  static absl::StatusOr<AdamWOptimizer> Create(const LlamaModel& model, const LlamaGradients& grads,
                                               const AdamWOptions& options);

  // Clips `grads` to max_grad_norm (every grad times min(1, max_norm / (norm + 1e-6)), as torch), then updates
  // every trained parameter of `model` with learning rate `lr`. Returns the gradient norm before clipping.
  // FAILED_PRECONDITION for a non-finite norm (NaN/inf loss): the parameters are left untouched.
  absl::StatusOr<double> Step(LlamaModel& model, LlamaGradients& grads, double lr);

  int64_t steps() const { return step_; }

  // The optimiser's whole state, for checkpoints: the step count and both moments of every trained tensor.
  struct State {
    int64_t step = 0;
    std::map<std::string, std::vector<float>> exp_avg;     // torch's names for m and v.
    std::map<std::string, std::vector<float>> exp_avg_sq;
  };
  absl::StatusOr<State> ExportState() const;
  // Restores ExportState's result. FAILED_PRECONDITION naming the tensor when the trained set or a size differs
  // (a checkpoint of another run); nothing is changed then.
  absl::Status ImportState(const State& state);

  // The moment buffers on the backend, by tensor name, and the step count: for ranks that receive a resumed state
  // by broadcast instead of reading a checkpoint.
  struct MomentBuffers {
    float* exp_avg = nullptr;
    float* exp_avg_sq = nullptr;
    int64_t elements = 0;
  };
  std::map<std::string, MomentBuffers> moment_buffers();
  void set_steps(int64_t steps) { step_ = steps; }

 private:
  AdamWOptimizer(Backend* backend, AdamWOptions options) : backend_(backend), options_(options) {}

  struct Moments {
    DeviceBuffer m;  // Same shape as the parameter.
    DeviceBuffer v;
  };
  Backend* backend_;
  AdamWOptions options_;
  std::map<std::string, Moments> moments_;
  DeviceBuffer norm_scratch_;  // (1) the device-side sum of squares.
  int64_t step_ = 0;
};

}  // namespace ftd
