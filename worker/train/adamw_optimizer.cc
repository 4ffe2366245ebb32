// AdamWOptimizer: global-norm clipping then one AdamWStep per trained tensor, on the model's backend.
#include "worker/train/adamw_optimizer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ftd {

absl::StatusOr<AdamWOptimizer> AdamWOptimizer::Create(const LlamaModel& model, const LlamaGradients& grads,
                                                      const AdamWOptions& options) {
  AdamWOptimizer optimizer(model.backend(), options);
  for (const std::string& name : grads.names()) {
    ASSIGN_OR_RETURN(int64_t elements, grads.Elements(name));
    Moments moments;
    ASSIGN_OR_RETURN(moments.m, DeviceBuffer::Create(optimizer.backend_, elements));
    ASSIGN_OR_RETURN(moments.v, DeviceBuffer::Create(optimizer.backend_, elements));
    RETURN_IF_ERROR(optimizer.backend_->Fill(moments.m.data(), 0.0f, elements));
    RETURN_IF_ERROR(optimizer.backend_->Fill(moments.v.data(), 0.0f, elements));
    optimizer.moments_.emplace(name, std::move(moments));
  }
  ASSIGN_OR_RETURN(optimizer.norm_scratch_, DeviceBuffer::Create(optimizer.backend_, 1));
  return optimizer;
}

absl::StatusOr<double> AdamWOptimizer::Step(LlamaModel& model, LlamaGradients& grads, double lr) {
  // torch: total_norm = ||(||g_i||)_i||; the per-tensor sums of squares are added up in double on the host.
  double sum_squares = 0;
  for (const auto& [name, moments] : moments_) {
    float* g = grads.Find(name);
    if (g == nullptr) return absl::InternalError(absl::StrCat("no gradient for trained tensor ", name));
    RETURN_IF_ERROR(backend_->Fill(norm_scratch_.data(), 0.0f, 1));
    RETURN_IF_ERROR(backend_->SumSquares(g, moments.m.size(), norm_scratch_.data()));
    float partial = 0;
    RETURN_IF_ERROR(backend_->CopyToHost(&partial, norm_scratch_.data(), sizeof(float)));
    sum_squares += partial;
  }
  const double norm = std::sqrt(sum_squares);
  if (!std::isfinite(norm)) {
    return absl::FailedPreconditionError(absl::StrCat("gradient norm is ", norm, ": the loss diverged"));
  }
  if (options_.max_grad_norm > 0) {
    const double coef = std::min(1.0, options_.max_grad_norm / (norm + 1e-6));
    for (const auto& [name, moments] : moments_) {
      RETURN_IF_ERROR(backend_->Scale(grads.Find(name), static_cast<float>(coef), moments.m.size()));
    }
  }
  ++step_;
  AdamWConfig config;
  config.lr = static_cast<float>(lr);
  config.beta1 = static_cast<float>(options_.beta1);
  config.beta2 = static_cast<float>(options_.beta2);
  config.eps = static_cast<float>(options_.eps);
  config.weight_decay = static_cast<float>(options_.weight_decay);
  config.step = step_;
  for (auto& [name, moments] : moments_) {
    ASSIGN_OR_RETURN(DeviceBuffer * param, model.Parameter(name));
    RETURN_IF_ERROR(backend_->AdamWStep(config, param->data(), grads.Find(name), moments.m.data(), moments.v.data(),
                                        moments.m.size()));
  }
  return norm;
}

absl::StatusOr<AdamWOptimizer::State> AdamWOptimizer::ExportState() const {
  State state;
  state.step = step_;
  for (const auto& [name, moments] : moments_) {
    std::vector<float> m(static_cast<size_t>(moments.m.size())), v(m.size());
    RETURN_IF_ERROR(backend_->CopyToHost(m.data(), moments.m.data(), m.size() * sizeof(float)));
    RETURN_IF_ERROR(backend_->CopyToHost(v.data(), moments.v.data(), v.size() * sizeof(float)));
    state.exp_avg.emplace(name, std::move(m));
    state.exp_avg_sq.emplace(name, std::move(v));
  }
  return state;
}

absl::Status AdamWOptimizer::ImportState(const State& state) {
  if (state.step < 0) return absl::FailedPreconditionError(absl::StrCat("optimizer step ", state.step, " < 0"));
  if (state.exp_avg.size() != moments_.size() || state.exp_avg_sq.size() != moments_.size()) {
    return absl::FailedPreconditionError(absl::StrCat("the optimizer state holds ", state.exp_avg.size(), " and ",
                                                      state.exp_avg_sq.size(), " moment tensors; this run trains ",
                                                      moments_.size()));
  }
  for (const auto& [name, moments] : moments_) {
    for (const auto* held : {&state.exp_avg, &state.exp_avg_sq}) {
      const auto it = held->find(name);
      if (it == held->end()) {
        return absl::FailedPreconditionError(absl::StrCat("the optimizer state has no moment for ", name));
      }
      if (static_cast<int64_t>(it->second.size()) != moments.m.size()) {
        return absl::FailedPreconditionError(absl::StrCat("optimizer moment of ", name, " has ", it->second.size(),
                                                          " elements; the tensor has ", moments.m.size()));
      }
    }
  }
  for (auto& [name, moments] : moments_) {
    const std::vector<float>& m = state.exp_avg.at(name);
    const std::vector<float>& v = state.exp_avg_sq.at(name);
    RETURN_IF_ERROR(backend_->CopyToDevice(moments.m.data(), m.data(), m.size() * sizeof(float)));
    RETURN_IF_ERROR(backend_->CopyToDevice(moments.v.data(), v.data(), v.size() * sizeof(float)));
  }
  step_ = state.step;
  return absl::OkStatus();
}

std::map<std::string, AdamWOptimizer::MomentBuffers> AdamWOptimizer::moment_buffers() {
  std::map<std::string, MomentBuffers> buffers;
  for (auto& [name, moments] : moments_) buffers[name] = {moments.m.data(), moments.v.data(), moments.m.size()};
  return buffers;
}

}  // namespace ftd
