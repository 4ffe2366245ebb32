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

}  // namespace ftd
