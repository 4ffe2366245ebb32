// QLoRA in LlamaModel: projections NF4-coded at load (LlamaLoadOptions::quantize) give the same training step as
// LoRA on a model whose projections ARE the dequantised weights (written to disk, loaded as fp32): loss, every
// LoRA gradient, Forward's and Decode's logits within 1e-5, for tiny_llama and tiny_qwen2 (q/k/v bias, tied),
// with and without double quantisation. Plus what a quantised model refuses (full fine-tuning, a projection as
// a parameter), the bytes it holds, and one step against PEFT on transformers' bitsandbytes 4-bit model.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "model/file_io.h"
#include "model/hf_model.h"
#include "model/llama/llama_model.h"
#include "model/peft_adapter.h"
#include "model/quant/nf4.h"
#include "model/safetensors.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"
#include "tests/testing/nf4_dequantised.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  return worst;
}

struct Pair {
  std::unique_ptr<LlamaModel> qlora, lora;  // NF4 at load; fp32 weights equal to the NF4 round trip
  ProjectionBytes projection_bytes;
};

Pair LoadPair(const std::string& model, Nf4Statistics statistics, const TempDir& tmp) {
  Pair pair;
  absl::StatusOr<HfModel> hf = LoadHfModel(FixturePath("model_io/" + model));
  EXPECT_TRUE(hf.ok()) << hf.status();
  if (!hf.ok()) return pair;
  absl::StatusOr<Backend*> cpu = GetBackend("cpu");
  EXPECT_TRUE(cpu.ok());
  absl::StatusOr<std::unique_ptr<LlamaModel>> q = LlamaModel::Load(*hf, *cpu, LlamaLoadOptions{statistics});
  EXPECT_TRUE(q.ok()) << q.status();
  if (!q.ok()) return pair;
  pair.qlora = std::move(*q);
  const std::string dir = tmp.file("dequantised");
  pair.projection_bytes = WriteNf4DequantisedModel(*hf, statistics, dir);
  pair.lora = LoadCpuModel(dir);
  return pair;
}

using Case = std::tuple<std::string, Nf4Statistics>;

// Each case loads the pair for its (model, statistics).
class LlamaQloraTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    pair_ = LoadPair(model_, statistics_, tmp_);
    ASSERT_NE(pair_.qlora, nullptr);
    ASSERT_NE(pair_.lora, nullptr);
  }
  const std::string model_ = std::get<0>(GetParam());
  const Nf4Statistics statistics_ = std::get<1>(GetParam());
  TempDir tmp_;
  Pair pair_;
};

TEST_P(LlamaQloraTest, StepEqualsLoraOnDequantisedWeights) {
  const std::string& model = model_;
  Pair& pair = pair_;
  EXPECT_TRUE(pair.qlora->quantized());
  EXPECT_FALSE(pair.lora->quantized());
  absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(FixturePath("training/" + model + "/lora_init"));
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  ASSERT_TRUE(pair.qlora->AttachLora(*adapter).ok());
  ASSERT_TRUE(pair.lora->AttachLora(*adapter).ok());

  const TrainingBatch batch = ReadTrainingBatch(model);
  absl::StatusOr<LlamaGradients> gq = pair.qlora->NewGradients(TrainMode::kLora);
  absl::StatusOr<LlamaGradients> gl = pair.lora->NewGradients(TrainMode::kLora);
  ASSERT_TRUE(gq.ok() && gl.ok());
  absl::StatusOr<float> lq = pair.qlora->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*gq);
  absl::StatusOr<float> ll = pair.lora->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*gl);
  ASSERT_TRUE(lq.ok()) << lq.status();
  ASSERT_TRUE(ll.ok()) << ll.status();
  EXPECT_NEAR(*lq, *ll, 1e-5);
  ASSERT_EQ(gq->names(), gl->names());
  double worst = 0, largest = 0;
  for (const std::string& name : gl->names()) {
    const std::vector<float> a = *gq->ToHost(name), b = *gl->ToHost(name);
    const double diff = MaxAbsDiff(a, b);
    EXPECT_LE(diff, 1e-5) << name;
    worst = std::max(worst, diff);
    for (float v : b) largest = std::max(largest, double(std::fabs(v)));
  }
  EXPECT_GT(largest, 1e-3) << "the LoRA gradients are too small for the comparison to mean anything";

  absl::StatusOr<std::vector<float>> fq = pair.qlora->Forward(batch.ids, batch.b, batch.t);
  absl::StatusOr<std::vector<float>> fl = pair.lora->Forward(batch.ids, batch.b, batch.t);
  ASSERT_TRUE(fq.ok() && fl.ok());
  const double logits = MaxAbsDiff(*fq, *fl);
  EXPECT_LE(logits, 1e-5);

  absl::StatusOr<LlamaKvCache> cq = pair.qlora->NewKvCache(batch.t);
  absl::StatusOr<LlamaKvCache> cl = pair.lora->NewKvCache(batch.t);
  ASSERT_TRUE(cq.ok() && cl.ok());
  const std::vector<int32_t> row(batch.ids.begin(), batch.ids.begin() + batch.t);
  absl::StatusOr<std::vector<float>> dq = pair.qlora->Decode(&*cq, row, LlamaDecodeLogits::kAll);
  absl::StatusOr<std::vector<float>> dl = pair.lora->Decode(&*cl, row, LlamaDecodeLogits::kAll);
  ASSERT_TRUE(dq.ok() && dl.ok());
  const double decoded = MaxAbsDiff(*dq, *dl);
  EXPECT_LE(decoded, 1e-5);
  std::printf("%s %s: loss qlora %.8f lora %.8f (diff %.2g); %zu LoRA gradients, max |diff| %.2g (largest |g| "
              "%.3g); logits max |diff| %.2g, decode %.2g\n",
              model.c_str(), statistics_ == Nf4Statistics::kDoubleQuant ? "double-quant" : "fp32-absmax", *lq, *ll,
              std::fabs(double(*lq) - *ll), gl->names().size(), worst, largest, logits, decoded);
}

TEST_P(LlamaQloraTest, HoldsProjectionsAsNf4AndRefusesToTrainThem) {
  const std::string& model = model_;
  Pair& pair = pair_;
  // Everything but the projections is held as in the fp32 model.
  const ProjectionBytes& p = pair.projection_bytes;
  EXPECT_EQ(pair.qlora->WeightBytes(), pair.lora->WeightBytes() - p.fp32 + p.nf4);
  std::printf("%s: weights %lld bytes as QLoRA, %lld as fp32 (projections %lld -> %lld)\n", model.c_str(),
              static_cast<long long>(pair.qlora->WeightBytes()), static_cast<long long>(pair.lora->WeightBytes()),
              static_cast<long long>(p.fp32), static_cast<long long>(p.nf4));

  const absl::StatusOr<LlamaGradients> full = pair.qlora->NewGradients(TrainMode::kFull);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kFailedPrecondition) << full.status();
  EXPECT_NE(full.status().message().find("NF4"), std::string::npos) << full.status();
  const auto weight = pair.qlora->Parameter("model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(weight.status().code(), absl::StatusCode::kFailedPrecondition) << weight.status();
  EXPECT_TRUE(pair.qlora->Parameter("model.layers.0.input_layernorm.weight").ok());
  EXPECT_TRUE(pair.qlora->Parameter("model.embed_tokens.weight").ok());
}

// Against PEFT over transformers' bitsandbytes 4-bit model (tests/fixtures/gen_qlora.py): its saved 4-bit
// directory loaded as stored, its lora_init attached, one step on its batch.
TEST(LlamaQloraPeftTest, StepMatchesPeftOnBitsandbytes4Bit) {
  const std::string dir = FixturePath("training/qlora_llama");
  std::unique_ptr<LlamaModel> model = LoadCpuModel(dir + "/model");
  ASSERT_NE(model, nullptr);
  EXPECT_TRUE(model->quantized());
  absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(dir + "/lora_init");
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  ASSERT_TRUE(model->AttachLora(*adapter).ok());
  absl::StatusOr<std::string> text = ReadFileToString(dir + "/qlora_loss.json");
  ASSERT_TRUE(text.ok()) << text.status();
  const nlohmann::json ref = nlohmann::json::parse(*text);
  const int64_t b = ref.at("B"), t = ref.at("T");
  std::vector<int32_t> ids, labels;
  for (const auto& row : ref.at("input_ids")) for (const auto& v : row) ids.push_back(v.get<int32_t>());
  for (const auto& row : ref.at("labels")) for (const auto& v : row) labels.push_back(v.get<int32_t>());
  absl::StatusOr<LlamaGradients> grads = model->NewGradients(TrainMode::kLora);
  ASSERT_TRUE(grads.ok()) << grads.status();
  absl::StatusOr<float> loss = model->ForwardBackward(ids, labels, b, t, &*grads);
  ASSERT_TRUE(loss.ok()) << loss.status();
  const double ref_loss = ref.at("loss");
  EXPECT_NEAR(*loss, ref_loss, 1e-5);

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> ref_grads = SafetensorsFile::Open(dir + "/qlora_grads.safetensors");
  ASSERT_TRUE(ref_grads.ok()) << ref_grads.status();
  ASSERT_EQ(grads->names(), (*ref_grads)->names());
  double worst = 0, largest = 0;
  for (const std::string& name : grads->names()) {
    const std::vector<float> ours = *grads->ToHost(name);
    const std::vector<float> theirs = *ToF32(*(*ref_grads)->Get(name));
    const double diff = MaxAbsDiff(ours, theirs);
    EXPECT_LE(diff, 1e-5) << name;
    worst = std::max(worst, diff);
    for (float v : theirs) largest = std::max(largest, double(std::fabs(v)));
  }
  std::printf("qlora_llama vs PEFT + bitsandbytes: loss %.7f / %.7f; %zu LoRA gradients, max |diff| %.2g (largest "
              "|g| %.3g)\n", *loss, ref_loss, grads->names().size(), worst, largest);
}

INSTANTIATE_TEST_SUITE_P(Models, LlamaQloraTest,
                         ::testing::Combine(::testing::Values("tiny_llama", "tiny_qwen2"),
                                            ::testing::Values(Nf4Statistics::kFp32Absmax,
                                                              Nf4Statistics::kDoubleQuant)),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::get<0>(info.param) +
                                  (std::get<1>(info.param) == Nf4Statistics::kDoubleQuant ? "_DoubleQuant" : "");
                         });

}  // namespace
}  // namespace ftd
