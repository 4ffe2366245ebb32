// Seeded random initialisation of Llama-family weights; see model_init.h.
#include "model/model_init.h"

#include <cmath>
#include <numbers>
#include <random>

#include "common/status_macros.h"
#include "model/hf_model.h"

namespace ftd {
namespace {

// Standard normal samples by Box-Muller from 53-bit uniforms, both outputs used. std::normal_distribution's
// algorithm is implementation-defined, so it would make a seed mean different weights on different libraries.
class NormalSampler {
 public:
  explicit NormalSampler(uint64_t seed) : engine_(seed) {}
  double Next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(engine_() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]: log(u1) finite.
    const double u2 = static_cast<double>(engine_() >> 11) * 0x1.0p-53;        // [0, 1).
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, Tensor>>> InitLlamaWeights(const LlamaConfig& config,
                                                                              uint64_t seed) {
  NormalSampler normal(seed);
  std::vector<std::pair<std::string, Tensor>> out;
  for (const HfTensorSpec& spec : LlamaTensorSpecs(config)) {
    std::vector<float> values(static_cast<size_t>(NumElements(spec.shape)));
    switch (spec.kind) {
      case HfTensorKind::kEmbedding:
      case HfTensorKind::kLinear:
        for (float& v : values) v = static_cast<float>(normal.Next() * config.initializer_range);
        break;
      case HfTensorKind::kNorm:
        for (float& v : values) v = 1.0f;
        break;
      case HfTensorKind::kBias:
        break;  // Zeros.
    }
    ASSIGN_OR_RETURN(Tensor t, FromF32As(config.dtype, spec.shape, values));
    out.emplace_back(spec.name, std::move(t));
  }
  return out;
}

absl::Status InitRandomModel(const InitModelOptions& options) {
  ASSIGN_OR_RETURN(LlamaConfig config, LoadLlamaConfig(options.config_path));
  ASSIGN_OR_RETURN(auto weights, InitLlamaWeights(config, options.seed));
  std::vector<std::pair<std::string, TensorView>> views;
  views.reserve(weights.size());
  for (const auto& [name, tensor] : weights) views.emplace_back(name, tensor.view());
  return SaveHfModel(options.out_dir, LlamaConfigToJson(config), views, options.tokenizer_dir);
}

}  // namespace ftd
