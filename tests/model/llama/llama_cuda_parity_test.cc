// Whole-step parity of the CUDA backend against the CPU backend on the fixture models (tiny_llama; tiny_qwen2 with
// q/k/v bias and a tied head): one LoRA step (loss and every LoRA gradient, with gen_training.py's adapter and
// batch), one full fine-tuning step (every gradient), the logits of Forward and of KV-cache Decode, and a QLoRA
// step on NF4-coded projections. The CPU path is itself checked against PyTorch/PEFT (llama_backward_test,
// llama_qlora_test), so agreement here carries that reference to the GPU. Skips where no CUDA device is usable.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/hf_model.h"
#include "model/llama/llama_model.h"
#include "model/peft_adapter.h"
#include "tests/testing/llama_fixtures.h"

namespace ftd {
namespace {

// max |a - b| over max |b|: the error relative to the tensor's scale (fp32 sums in another order differ by a few ulp
// of the largest terms, not of each element).
double RelativeMaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0, scale = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  return scale > 0 ? worst / scale : worst;
}

// fp32 through different summation orders (cuBLAS vs OpenBLAS, block reductions vs row loops): a step's outputs
// agree to about 1e-6 of their scale; 1e-4 leaves room for the longer reductions of the backward.
constexpr double kTolerance = 1e-4;

struct Models {
  std::unique_ptr<LlamaModel> cpu, cuda;
};

Models Load(const std::string& name, LlamaLoadOptions options = {}) {
  Models models;
  absl::StatusOr<Backend*> cuda = GetBackend("cuda");
  if (!cuda.ok()) return models;
  absl::StatusOr<HfModel> hf = LoadHfModel(FixturePath("model_io/" + name));
  EXPECT_TRUE(hf.ok()) << hf.status();
  if (!hf.ok()) return models;
  absl::StatusOr<std::unique_ptr<LlamaModel>> cpu_model = LlamaModel::Load(*hf, *GetBackend("cpu"), options);
  absl::StatusOr<std::unique_ptr<LlamaModel>> cuda_model = LlamaModel::Load(*hf, *cuda, options);
  EXPECT_TRUE(cpu_model.ok()) << cpu_model.status();
  EXPECT_TRUE(cuda_model.ok()) << cuda_model.status();
  if (cpu_model.ok() && cuda_model.ok()) {
    models.cpu = std::move(*cpu_model);
    models.cuda = std::move(*cuda_model);
  }
  return models;
}

class LlamaCudaParityTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    absl::StatusOr<Backend*> cuda = GetBackend("cuda");
    if (!cuda.ok()) GTEST_SKIP() << "no CUDA backend here: " << cuda.status().message();
  }
  const std::string model_ = GetParam();
};

// One step on both backends; compares the loss and every gradient.
void ExpectSameStep(Models& m, TrainMode mode, const std::string& what) {
  const TrainingBatch batch = ReadTrainingBatch(what.substr(0, what.find(' ')));
  absl::StatusOr<LlamaGradients> g_cpu = m.cpu->NewGradients(mode);
  absl::StatusOr<LlamaGradients> g_cuda = m.cuda->NewGradients(mode);
  ASSERT_TRUE(g_cpu.ok()) << g_cpu.status();
  ASSERT_TRUE(g_cuda.ok()) << g_cuda.status();
  absl::StatusOr<float> l_cpu = m.cpu->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*g_cpu);
  absl::StatusOr<float> l_cuda = m.cuda->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*g_cuda);
  ASSERT_TRUE(l_cpu.ok()) << l_cpu.status();
  ASSERT_TRUE(l_cuda.ok()) << l_cuda.status();
  EXPECT_NEAR(*l_cuda / *l_cpu, 1.0, 1e-5) << what;
  ASSERT_EQ(g_cpu->names(), g_cuda->names());
  double worst = 0;
  std::string worst_name;
  for (const std::string& name : g_cpu->names()) {
    const double diff = RelativeMaxDiff(*g_cuda->ToHost(name), *g_cpu->ToHost(name));
    EXPECT_LE(diff, kTolerance) << what << ": " << name;
    if (diff >= worst) worst = diff, worst_name = name;
  }
  std::printf("%s: loss cpu %.8f cuda %.8f; %zu gradients, worst relative max |diff| %.2g (%s)\n", what.c_str(),
              *l_cpu, *l_cuda, g_cpu->names().size(), worst, worst_name.c_str());
}

TEST_P(LlamaCudaParityTest, LoraStepMatchesTheCpu) {
  Models m = Load(model_);
  ASSERT_NE(m.cuda, nullptr);
  absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(FixturePath("training/" + model_ + "/lora_init"));
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  ASSERT_TRUE(m.cpu->AttachLora(*adapter).ok());
  ASSERT_TRUE(m.cuda->AttachLora(*adapter).ok());
  ExpectSameStep(m, TrainMode::kLora, model_ + " lora");
}

TEST_P(LlamaCudaParityTest, FullStepMatchesTheCpu) {
  Models m = Load(model_);
  ASSERT_NE(m.cuda, nullptr);
  ExpectSameStep(m, TrainMode::kFull, model_ + " full");
}

TEST_P(LlamaCudaParityTest, QloraStepMatchesTheCpu) {
  Models m = Load(model_, LlamaLoadOptions{Nf4Statistics::kDoubleQuant});
  ASSERT_NE(m.cuda, nullptr);
  absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(FixturePath("training/" + model_ + "/lora_init"));
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  ASSERT_TRUE(m.cpu->AttachLora(*adapter).ok());
  ASSERT_TRUE(m.cuda->AttachLora(*adapter).ok());
  ExpectSameStep(m, TrainMode::kLora, model_ + " qlora");
}

TEST_P(LlamaCudaParityTest, LogitsAndDecodeMatchTheCpu) {
  Models m = Load(model_);
  ASSERT_NE(m.cuda, nullptr);
  const TrainingBatch batch = ReadTrainingBatch(model_);
  absl::StatusOr<std::vector<float>> f_cpu = m.cpu->Forward(batch.ids, batch.b, batch.t);
  absl::StatusOr<std::vector<float>> f_cuda = m.cuda->Forward(batch.ids, batch.b, batch.t);
  ASSERT_TRUE(f_cpu.ok()) << f_cpu.status();
  ASSERT_TRUE(f_cuda.ok()) << f_cuda.status();
  const double logits = RelativeMaxDiff(*f_cuda, *f_cpu);
  EXPECT_LE(logits, kTolerance);

  absl::StatusOr<LlamaKvCache> c_cpu = m.cpu->NewKvCache(batch.t);
  absl::StatusOr<LlamaKvCache> c_cuda = m.cuda->NewKvCache(batch.t);
  ASSERT_TRUE(c_cpu.ok() && c_cuda.ok());
  const std::vector<int32_t> row(batch.ids.begin(), batch.ids.begin() + batch.t);
  // The prompt at once, then one token at a time: both decode paths.
  const std::vector<int32_t> prompt(row.begin(), row.end() - 1);
  absl::StatusOr<std::vector<float>> d_cpu = m.cpu->Decode(&*c_cpu, prompt, LlamaDecodeLogits::kAll);
  absl::StatusOr<std::vector<float>> d_cuda = m.cuda->Decode(&*c_cuda, prompt, LlamaDecodeLogits::kAll);
  ASSERT_TRUE(d_cpu.ok() && d_cuda.ok());
  double decoded = RelativeMaxDiff(*d_cuda, *d_cpu);
  d_cpu = m.cpu->Decode(&*c_cpu, {row.back()}, LlamaDecodeLogits::kAll);
  d_cuda = m.cuda->Decode(&*c_cuda, {row.back()}, LlamaDecodeLogits::kAll);
  ASSERT_TRUE(d_cpu.ok() && d_cuda.ok());
  decoded = std::max(decoded, RelativeMaxDiff(*d_cuda, *d_cpu));
  EXPECT_LE(decoded, kTolerance);
  std::printf("%s: logits relative max |diff| %.2g, decode %.2g\n", model_.c_str(), logits, decoded);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LlamaCudaParityTest, ::testing::Values("tiny_llama", "tiny_qwen2"));

}  // namespace
}  // namespace ftd
