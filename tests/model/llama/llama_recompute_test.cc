// Activation recompute in LlamaModel (set_recompute_activations): a step with only each layer's input kept, every
// layer's forward run again in the backward, equals the step that keeps every activation bit for bit, for LoRA
// with dropout (the masks are redrawn alike), full fine-tuning and a packed batch, on tiny_llama and tiny_qwen2; and
// it holds fewer activation bytes on the backend.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/llama/llama_model.h"
#include "model/peft_adapter.h"
#include "tests/testing/llama_fixtures.h"

namespace ftd {
namespace {

struct Step {
  float loss = 0;
  std::vector<std::vector<float>> grads;
  int64_t activation_bytes = 0;  // Backend bytes the step added: the activation plan (and the gradients' arena).
};

// One ForwardBackward of `batch` on a fresh model of the fixture `name`, with or without recompute.
Step RunStep(const std::string& name, TrainMode mode, bool recompute, bool lora_dropout, bool packed) {
  Step step;
  std::unique_ptr<LlamaModel> model = LoadFixtureModel(name);
  EXPECT_NE(model, nullptr);
  if (model == nullptr) return step;
  if (mode == TrainMode::kLora) {
    absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(FixturePath("training/" + name + "/lora_init"));
    EXPECT_TRUE(adapter.ok()) << adapter.status();
    if (lora_dropout) adapter->config.lora_dropout = 0.25;
    EXPECT_TRUE(model->AttachLora(*adapter).ok());
    model->SetLoraDropoutRng(LoraDropoutRng{7, 3});
  }
  model->set_recompute_activations(recompute);
  absl::StatusOr<LlamaGradients> grads = model->NewGradients(mode);
  EXPECT_TRUE(grads.ok()) << grads.status();
  const TrainingBatch batch = ReadTrainingBatch(name);
  // Packed: each row as two documents, positions restarting at the middle, segments split there.
  std::vector<int32_t> positions, segments;
  for (int64_t b = 0; packed && b < batch.b; ++b) {
    for (int64_t t = 0; t < batch.t; ++t) {
      const bool second = t >= batch.t / 2;
      positions.push_back(static_cast<int32_t>(second ? t - batch.t / 2 : t));
      segments.push_back(second ? 1 : 0);
    }
  }
  const LlamaPacking packing{positions, segments};
  Backend& backend = *model->backend();
  const int64_t before = backend.MemoryStats()->allocated_bytes;
  absl::StatusOr<float> loss = model->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*grads, 0,
                                                      packed ? &packing : nullptr);
  EXPECT_TRUE(loss.ok()) << loss.status();
  if (!loss.ok()) return step;
  step.activation_bytes = backend.MemoryStats()->allocated_bytes - before;
  step.loss = *loss;
  for (const std::string& n : grads->names()) step.grads.push_back(*grads->ToHost(n));
  return step;
}

void ExpectBitwiseEqual(const Step& kept, const Step& recomputed, const std::string& what) {
  EXPECT_EQ(std::memcmp(&kept.loss, &recomputed.loss, sizeof(float)), 0) << what << ": " << kept.loss << " vs "
                                                                          << recomputed.loss;
  ASSERT_EQ(kept.grads.size(), recomputed.grads.size()) << what;
  for (size_t i = 0; i < kept.grads.size(); ++i) {
    ASSERT_EQ(kept.grads[i].size(), recomputed.grads[i].size()) << what;
    EXPECT_EQ(std::memcmp(kept.grads[i].data(), recomputed.grads[i].data(), kept.grads[i].size() * sizeof(float)), 0)
        << what << ": gradient " << i << " differs";
  }
  EXPECT_LT(recomputed.activation_bytes, kept.activation_bytes) << what;
  std::printf("%s: loss %.8f both ways; %zu gradients bitwise equal; step buffers %lld bytes kept-all, %lld with "
              "recompute\n", what.c_str(), kept.loss, kept.grads.size(), static_cast<long long>(kept.activation_bytes),
              static_cast<long long>(recomputed.activation_bytes));
}

class LlamaRecomputeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaRecomputeTest, LoraWithDropoutIsBitwiseTheSame) {
  ExpectBitwiseEqual(RunStep(GetParam(), TrainMode::kLora, false, true, false),
                     RunStep(GetParam(), TrainMode::kLora, true, true, false), GetParam() + " lora dropout 0.25");
}

TEST_P(LlamaRecomputeTest, FullFineTuningIsBitwiseTheSame) {
  ExpectBitwiseEqual(RunStep(GetParam(), TrainMode::kFull, false, false, false),
                     RunStep(GetParam(), TrainMode::kFull, true, false, false), GetParam() + " full");
}

TEST_P(LlamaRecomputeTest, PackedBatchIsBitwiseTheSame) {
  ExpectBitwiseEqual(RunStep(GetParam(), TrainMode::kLora, false, false, true),
                     RunStep(GetParam(), TrainMode::kLora, true, false, true), GetParam() + " lora packed");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LlamaRecomputeTest, ::testing::Values("tiny_llama", "tiny_qwen2"));

}  // namespace
}  // namespace ftd
