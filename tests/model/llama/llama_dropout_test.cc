// LoRA dropout in LlamaModel (PEFT's lora_dropout, nn.Dropout in training mode): Forward (evaluation) never
// drops; ForwardBackward drops, reproducibly from the seed, with new masks each step; its A/B gradients (and a
// frozen adapter's input gradient) are those of the loss under the masks drawn, by central finite differences.
// On tiny_llama with its PEFT adapter on all seven projections (lora_init/, B nonzero).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "model/llama/llama_model.h"
#include "model/peft_adapter.h"
#include "tests/testing/llama_fixtures.h"

namespace ftd {
namespace {

const std::string kDir = FixturePath("training/tiny_llama");

// tiny_llama with its fixture adapter attached at lora_dropout = p.
std::unique_ptr<LlamaModel> ModelWithDropout(double p) {
  std::unique_ptr<LlamaModel> llama = LoadFixtureModel("tiny_llama");
  absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(kDir + "/lora_init");
  EXPECT_TRUE(adapter.ok()) << adapter.status();
  if (llama == nullptr || !adapter.ok()) return nullptr;
  adapter->config.lora_dropout = p;
  const absl::Status attached = llama->AttachLora(*adapter);
  EXPECT_TRUE(attached.ok()) << attached;
  return attached.ok() ? std::move(llama) : nullptr;
}

// One training step's loss and every gradient (by name, sorted), from fresh zeroed gradients.
struct Step {
  float loss = 0.0f;
  std::vector<std::vector<float>> grads;
};

Step RunStep(LlamaModel& llama, const TrainingBatch& batch, TrainMode mode) {
  Step step;
  absl::StatusOr<LlamaGradients> grads = llama.NewGradients(mode);
  EXPECT_TRUE(grads.ok()) << grads.status();
  if (!grads.ok()) return step;
  absl::StatusOr<float> loss = llama.ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*grads);
  EXPECT_TRUE(loss.ok()) << loss.status();
  step.loss = loss.ok() ? *loss : NAN;
  for (const std::string& name : grads->names()) step.grads.push_back(*grads->ToHost(name));
  return step;
}

TEST(LlamaDropoutTest, ForwardIsEvaluationAndNeverDrops) {
  const TrainingBatch batch = ReadTrainingBatch("tiny_llama");
  std::unique_ptr<LlamaModel> dropped = ModelWithDropout(0.5);
  std::unique_ptr<LlamaModel> plain = ModelWithDropout(0.0);
  ASSERT_NE(dropped, nullptr);
  ASSERT_NE(plain, nullptr);
  absl::StatusOr<std::vector<float>> expected = plain->Forward(batch.ids, batch.b, batch.t);
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_EQ(*dropped->Forward(batch.ids, batch.b, batch.t), *expected);
  // Still none after a training step (its dropout ends with it).
  RunStep(*dropped, batch, TrainMode::kLora);
  EXPECT_EQ(*dropped->Forward(batch.ids, batch.b, batch.t), *expected);
}

TEST(LlamaDropoutTest, TheSeedReproducesARunAndEachStepDrawsNewMasks) {
  const TrainingBatch batch = ReadTrainingBatch("tiny_llama");
  std::unique_ptr<LlamaModel> a = ModelWithDropout(0.1);
  std::unique_ptr<LlamaModel> b = ModelWithDropout(0.1);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  a->SetLoraDropoutRng({.seed = 42, .step = 0});
  b->SetLoraDropoutRng({.seed = 42, .step = 0});
  const Step a0 = RunStep(*a, batch, TrainMode::kLora);
  const Step a1 = RunStep(*a, batch, TrainMode::kLora);
  EXPECT_EQ(a->lora_dropout_rng().step, 2u);
  const Step b0 = RunStep(*b, batch, TrainMode::kLora);
  const Step b1 = RunStep(*b, batch, TrainMode::kLora);
  EXPECT_EQ(a0.loss, b0.loss);  // Bit-identical: same seed, same masks, same ops.
  EXPECT_EQ(a0.grads, b0.grads);
  EXPECT_EQ(a1.loss, b1.loss);
  EXPECT_EQ(a1.grads, b1.grads);
  EXPECT_NE(a0.loss, a1.loss) << "the second step must draw new masks";

  // Resuming at a saved step replays that step.
  b->SetLoraDropoutRng({.seed = 42, .step = 1});
  EXPECT_EQ(RunStep(*b, batch, TrainMode::kLora).grads, a1.grads);

  b->SetLoraDropoutRng({.seed = 43, .step = 0});
  const Step other = RunStep(*b, batch, TrainMode::kLora);
  EXPECT_NE(other.loss, a0.loss);
  EXPECT_NE(other.grads, a0.grads);
}

TEST(LlamaDropoutTest, DropoutChangesTheLossAndZeroDropoutIgnoresTheSeed) {
  const TrainingBatch batch = ReadTrainingBatch("tiny_llama");
  std::unique_ptr<LlamaModel> dropped = ModelWithDropout(0.3);
  std::unique_ptr<LlamaModel> plain = ModelWithDropout(0.0);
  ASSERT_NE(dropped, nullptr);
  ASSERT_NE(plain, nullptr);
  const Step without = RunStep(*plain, batch, TrainMode::kLora);
  EXPECT_NE(RunStep(*dropped, batch, TrainMode::kLora).loss, without.loss);
  // p = 0 draws nothing: any seed or step gives the undropped step bit for bit (the PEFT fixtures' numbers,
  // llama_backward_test).
  plain->SetLoraDropoutRng({.seed = 7, .step = 123});
  const Step again = RunStep(*plain, batch, TrainMode::kLora);
  EXPECT_EQ(again.loss, without.loss);
  EXPECT_EQ(again.grads, without.grads);
}

double Ulp(float x) { return std::nextafter(std::fabs(x), INFINITY) - std::fabs(x); }

// The loss with coordinate `index` of parameter `name` set to `value`, under the masks of {seed, step 0}.
float LossAt(LlamaModel& llama, const TrainingBatch& batch, const std::string& name, int64_t index, float value,
             uint64_t seed) {
  DeviceBuffer* param = *llama.Parameter(name);
  Backend* be = llama.backend();
  float old = 0.0f;
  EXPECT_TRUE(be->CopyToHost(&old, param->data() + index, 4).ok());
  EXPECT_TRUE(be->CopyToDevice(param->data() + index, &value, 4).ok());
  llama.SetLoraDropoutRng({.seed = seed, .step = 0});
  absl::StatusOr<LlamaGradients> scratch = llama.NewGradients(TrainMode::kLora);
  absl::StatusOr<float> loss = llama.ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*scratch);
  EXPECT_TRUE(loss.ok()) << loss.status();
  EXPECT_TRUE(be->CopyToDevice(param->data() + index, &old, 4).ok());
  return *loss;
}

// Central differences of the fp32 loss (~6, so one ulp is 4.8e-7). h is 1e-2 of the coordinate's scale: the
// loss is smooth at fixed masks, so the h^2 error stays well under 1e-2 relative, while the loss's own rounding
// adds up to ulp(L+) + ulp(L-) over 2h to the difference (~5e-4 for h = 1e-3). The tolerance is 2e-2 relative
// plus that rounding bound, on coordinates with gradients of at least 1e-2: a missing mask, a missing 1/(1-p)
// (x1.43 at p = 0.3) or a mask differing between forward and backward is off by far more.
void ExpectGradientsMatchDifferences(LlamaModel& llama, const TrainingBatch& batch, TrainMode mode,
                                     const std::vector<std::string>& names, uint64_t seed) {
  llama.SetLoraDropoutRng({.seed = seed, .step = 0});
  absl::StatusOr<LlamaGradients> grads = llama.NewGradients(mode);
  ASSERT_TRUE(grads.ok()) << grads.status();
  ASSERT_TRUE(llama.ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*grads).ok());
  std::mt19937_64 rng(seed);
  for (const std::string& name : names) {
    const std::vector<float> g = *grads->ToHost(name);
    std::vector<float> values(g.size());
    ASSERT_TRUE(llama.backend()->CopyToHost(values.data(), (*llama.Parameter(name))->data(), 4 * g.size()).ok());
    // The largest gradient and five random coordinates among those above the median (and above 1e-2).
    std::vector<float> magnitudes(g.size());
    for (size_t i = 0; i < g.size(); ++i) magnitudes[i] = std::fabs(g[i]);
    std::nth_element(magnitudes.begin(), magnitudes.begin() + magnitudes.size() / 2, magnitudes.end());
    const float floor = std::max(magnitudes[magnitudes.size() / 2], 1e-2f);
    std::vector<int64_t> candidates;
    for (size_t i = 0; i < g.size(); ++i) {
      if (std::fabs(g[i]) > floor) candidates.push_back(static_cast<int64_t>(i));
    }
    ASSERT_FALSE(candidates.empty()) << name << ": no gradient above " << floor;
    std::shuffle(candidates.begin(), candidates.end(), rng);
    candidates.resize(std::min<size_t>(candidates.size(), 5));
    candidates.push_back(std::max_element(g.begin(), g.end(), [](float x, float y) {
                           return std::fabs(x) < std::fabs(y);
                         }) - g.begin());
    for (int64_t i : candidates) {
      const float x = values[i];
      const float h = 1e-2f * std::max(std::fabs(x), 0.1f);
      const float plus = LossAt(llama, batch, name, i, x + h, seed);
      const float minus = LossAt(llama, batch, name, i, x - h, seed);
      const double step = static_cast<double>(x + h) - static_cast<double>(x - h);  // 2h as stored in fp32
      const double fd = (static_cast<double>(plus) - minus) / step;
      const double rounding = (Ulp(plus) + Ulp(minus)) / step;
      EXPECT_NEAR(g[i], fd, 2e-2 * std::fabs(fd) + rounding) << name << "[" << i << "] (x " << x << ", h " << h << ")";
      std::printf("%s[%lld]: grad %.6g, central difference %.6g (h %.2g)\n", name.c_str(),
                  static_cast<long long>(i), g[i], fd, h);
    }
  }
}

TEST(LlamaDropoutTest, LoraGradientsAreThoseOfTheDroppedOutLoss) {
  const TrainingBatch batch = ReadTrainingBatch("tiny_llama");
  std::unique_ptr<LlamaModel> llama = ModelWithDropout(0.3);
  ASSERT_NE(llama, nullptr);
  // q (shares its input with k and v, each with its own mask), o (attention output), down (MLP activation).
  const std::string p = "base_model.model.model.layers.";
  ExpectGradientsMatchDifferences(*llama, batch, TrainMode::kLora,
                                  {p + "0.self_attn.q_proj.lora_A.weight", p + "0.self_attn.v_proj.lora_B.weight",
                                   p + "1.self_attn.o_proj.lora_A.weight", p + "1.mlp.down_proj.lora_A.weight",
                                   p + "1.mlp.down_proj.lora_B.weight"},
                                  11);
}

// Full fine-tuning with the adapter attached (frozen) under dropout: the base weights' gradients pass through
// the adapter's masked input gradient.
TEST(LlamaDropoutTest, FrozenAdapterPassesTheMaskedInputGradient) {
  const TrainingBatch batch = ReadTrainingBatch("tiny_llama");
  std::unique_ptr<LlamaModel> llama = ModelWithDropout(0.3);
  ASSERT_NE(llama, nullptr);
  ExpectGradientsMatchDifferences(*llama, batch, TrainMode::kFull,
                                  {"model.layers.0.input_layernorm.weight", "model.embed_tokens.weight"}, 5);
}

TEST(LlamaDropoutTest, AttachLoraAcceptsDropoutInZeroToOneOnly) {
  std::unique_ptr<LlamaModel> llama = LoadFixtureModel("tiny_llama");
  ASSERT_NE(llama, nullptr);
  absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(kDir + "/lora_init");
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  for (double p : {1.0, -0.1, 1.5, 0.999999999}) {
    adapter->config.lora_dropout = p;
    const absl::Status s = llama->AttachLora(*adapter);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << p;
    EXPECT_NE(s.message().find("LoRA dropout"), std::string::npos) << s;
  }
  EXPECT_FALSE(llama->has_lora()) << "a refused adapter is not attached";
  adapter->config.lora_dropout = 1.5;
  EXPECT_EQ(llama->AttachLora(*adapter).message(), "LoRA dropout 1.5 outside [0, 1)");
  for (double p : {0.0, 0.05, 0.999}) {
    adapter->config.lora_dropout = p;
    EXPECT_TRUE(llama->AttachLora(*adapter).ok()) << p;
  }
}

}  // namespace
}  // namespace ftd
