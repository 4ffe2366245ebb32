// bf16 projections in LlamaModel (LlamaLoadOptions::bf16_projections): a LoRA step, Forward's logits and Decode's on
// a model holding q/k/v/o and gate/up/down in bf16 equal those of the fp32 model whose projections are set to the
// same bf16-rounded values (the CPU backend widens bf16 exactly), for tiny_llama and tiny_qwen2; the projections
// take half the bytes; a bf16 model refuses full fine-tuning and a projection as a parameter, and bf16 with NF4.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/dtype.h"
#include "model/hf_model.h"
#include "model/llama/llama_model.h"
#include "model/peft_adapter.h"
#include "tests/testing/llama_fixtures.h"

namespace ftd {
namespace {

constexpr const char* kProjections[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                        "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  return worst;
}

class LlamaBf16Test : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    absl::StatusOr<HfModel> hf = LoadHfModel(FixturePath("model_io/" + GetParam()));
    ASSERT_TRUE(hf.ok()) << hf.status();
    Backend* cpu = *GetBackend("cpu");
    LlamaLoadOptions options;
    options.bf16_projections = true;
    absl::StatusOr<std::unique_ptr<LlamaModel>> bf16 = LlamaModel::Load(*hf, cpu, options);
    ASSERT_TRUE(bf16.ok()) << bf16.status();
    bf16_ = std::move(*bf16);
    absl::StatusOr<std::unique_ptr<LlamaModel>> rounded = LlamaModel::Load(*hf, cpu);
    ASSERT_TRUE(rounded.ok()) << rounded.status();
    rounded_ = std::move(*rounded);
    // The fp32 model's projections become their bf16 values, in place.
    for (int64_t l = 0; l < hf->config.num_hidden_layers; ++l) {
      for (const char* proj : kProjections) {
        const std::string name = absl::StrCat("model.layers.", l, ".", proj, ".weight");
        absl::StatusOr<DeviceBuffer*> w = rounded_->Parameter(name);
        ASSERT_TRUE(w.ok()) << w.status();
        std::vector<float> host(static_cast<size_t>((*w)->size()));
        ASSERT_TRUE(cpu->CopyToHost(host.data(), (*w)->data(), (*w)->size() * 4).ok());
        for (float& v : host) v = Bf16ToF32(F32ToBf16(v));
        ASSERT_TRUE(cpu->CopyToDevice((*w)->data(), host.data(), (*w)->size() * 4).ok());
      }
    }
  }
  std::unique_ptr<LlamaModel> bf16_, rounded_;
};

TEST_P(LlamaBf16Test, LoraStepLogitsAndDecodeEqualTheRoundedFp32Model) {
  absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(FixturePath("training/" + GetParam() + "/lora_init"));
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  ASSERT_TRUE(bf16_->AttachLora(*adapter).ok());
  ASSERT_TRUE(rounded_->AttachLora(*adapter).ok());
  const TrainingBatch batch = ReadTrainingBatch(GetParam());
  absl::StatusOr<LlamaGradients> gb = bf16_->NewGradients(TrainMode::kLora);
  absl::StatusOr<LlamaGradients> gr = rounded_->NewGradients(TrainMode::kLora);
  ASSERT_TRUE(gb.ok() && gr.ok());
  absl::StatusOr<float> lb = bf16_->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*gb);
  absl::StatusOr<float> lr = rounded_->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*gr);
  ASSERT_TRUE(lb.ok()) << lb.status();
  ASSERT_TRUE(lr.ok()) << lr.status();
  EXPECT_NEAR(*lb, *lr, 1e-6);
  double worst = 0, largest = 0;
  for (const std::string& name : gr->names()) {
    const std::vector<float> b = *gb->ToHost(name), r = *gr->ToHost(name);
    worst = std::max(worst, MaxAbsDiff(b, r));
    for (float v : r) largest = std::max(largest, double(std::fabs(v)));
  }
  EXPECT_LE(worst, 1e-6);
  EXPECT_GT(largest, 1e-3) << "the LoRA gradients are too small for the comparison to mean anything";

  absl::StatusOr<std::vector<float>> fb = bf16_->Forward(batch.ids, batch.b, batch.t);
  absl::StatusOr<std::vector<float>> fr = rounded_->Forward(batch.ids, batch.b, batch.t);
  ASSERT_TRUE(fb.ok() && fr.ok());
  const double logits = MaxAbsDiff(*fb, *fr);
  EXPECT_LE(logits, 1e-6);

  absl::StatusOr<LlamaKvCache> cb = bf16_->NewKvCache(batch.t);
  absl::StatusOr<LlamaKvCache> cr = rounded_->NewKvCache(batch.t);
  ASSERT_TRUE(cb.ok() && cr.ok());
  const std::vector<int32_t> row(batch.ids.begin(), batch.ids.begin() + batch.t);
  absl::StatusOr<std::vector<float>> db = bf16_->Decode(&*cb, row, LlamaDecodeLogits::kAll);
  absl::StatusOr<std::vector<float>> dr = rounded_->Decode(&*cr, row, LlamaDecodeLogits::kAll);
  ASSERT_TRUE(db.ok() && dr.ok());
  const double decoded = MaxAbsDiff(*db, *dr);
  EXPECT_LE(decoded, 1e-6);
  std::printf("%s: loss bf16 %.8f rounded fp32 %.8f; LoRA gradients max |diff| %.2g (largest |g| %.3g); logits %.2g, "
              "decode %.2g\n", GetParam().c_str(), *lb, *lr, worst, largest, logits, decoded);
}

TEST_P(LlamaBf16Test, HoldsProjectionsInHalfTheBytesAndRefusesToTrainThem) {
  EXPECT_TRUE(bf16_->frozen_projections());
  EXPECT_FALSE(bf16_->quantized());
  const LlamaConfig& c = bf16_->config();
  const int64_t projections = c.num_hidden_layers * (2 * c.hidden_size * c.q_dim() + 2 * c.hidden_size * c.kv_dim() +
                                                     3 * c.hidden_size * c.intermediate_size);
  EXPECT_EQ(rounded_->WeightBytes() - bf16_->WeightBytes(), projections * 2) << "4 bytes a value -> 2";
  const absl::StatusOr<LlamaGradients> full = bf16_->NewGradients(TrainMode::kFull);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kFailedPrecondition) << full.status();
  EXPECT_NE(full.status().message().find("bf16"), std::string::npos) << full.status();
  const auto weight = bf16_->Parameter("model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(weight.status().code(), absl::StatusCode::kFailedPrecondition) << weight.status();
  EXPECT_TRUE(bf16_->Parameter("model.norm.weight").ok()) << "norms stay fp32";
}

TEST(LlamaBf16LoadTest, Bf16AndNf4AtOnceAreRefused) {
  absl::StatusOr<HfModel> hf = LoadHfModel(FixturePath("model_io/tiny_llama"));
  ASSERT_TRUE(hf.ok()) << hf.status();
  LlamaLoadOptions options;
  options.bf16_projections = true;
  options.quantize = Nf4Statistics::kDoubleQuant;
  const auto model = LlamaModel::Load(*hf, *GetBackend("cpu"), options);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LlamaBf16Test, ::testing::Values("tiny_llama", "tiny_qwen2"));

}  // namespace
}  // namespace ftd
