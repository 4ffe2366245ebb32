// Five LoRA training steps against PEFT + torch.optim.AdamW + get_cosine_schedule_with_warmup +
// clip_grad_norm_ (gen_training.py's lora_5steps): losses, pre-clip gradient norms and the final adapter.
#include "worker/train/adamw_optimizer.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/peft_adapter.h"
#include "model/safetensors.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"
#include "worker/train/lr_schedule.h"

namespace ftd {
namespace {

class AdamWFiveStepsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(AdamWFiveStepsTest, LoraMatchesPeftAndTorch) {
  const std::string name = GetParam();
  const std::string dir = FixturePath("training/" + name);
  std::unique_ptr<LlamaModel> model = LoadFixtureModel(name);
  ASSERT_NE(model, nullptr);
  absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(dir + "/lora_init");
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  ASSERT_TRUE(model->AttachLora(*adapter).ok());
  absl::StatusOr<LlamaGradients> grads = model->NewGradients(TrainMode::kLora);
  ASSERT_TRUE(grads.ok()) << grads.status();

  const TrainingBatch batch = ReadTrainingBatch(name);
  std::ifstream steps_in(dir + "/lora_5steps.json");
  ASSERT_TRUE(!batch.ids.empty() && steps_in);
  const nlohmann::json recorded = nlohmann::json::parse(steps_in);
  const nlohmann::json& opt = recorded["optimizer"];
  AdamWOptions options;
  options.beta1 = opt["betas"][0];
  options.beta2 = opt["betas"][1];
  options.eps = opt["eps"];
  options.weight_decay = opt["weight_decay"];
  options.max_grad_norm = recorded["clipping"]["max_norm"];
  absl::StatusOr<AdamWOptimizer> optimizer = AdamWOptimizer::Create(*model, *grads, options);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  const LrScheduleConfig schedule{LrSchedule::kCosine, opt["lr"].get<double>(),
                                  recorded["schedule"]["num_warmup_steps"].get<int64_t>(),
                                  recorded["schedule"]["num_training_steps"].get<int64_t>()};

  for (int64_t step = 0; step < 5; ++step) {
    ASSERT_TRUE(grads->Zero().ok());
    absl::StatusOr<float> loss = model->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, &*grads);
    ASSERT_TRUE(loss.ok()) << loss.status();
    EXPECT_NEAR(*loss, recorded["losses"][step].get<double>(), 1e-4) << "step " << step;
    absl::StatusOr<double> norm = optimizer->Step(*model, *grads, LearningRate(schedule, step));
    ASSERT_TRUE(norm.ok()) << norm.status();
    EXPECT_NEAR(*norm, recorded["grad_norms_pre_clip"][step].get<double>(), 1e-4) << "step " << step;
  }

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> want = SafetensorsFile::Open(dir + "/lora_5steps.safetensors");
  ASSERT_TRUE(want.ok()) << want.status();
  double worst = 0;
  for (const std::string& tensor : (*want)->names()) {
    absl::StatusOr<DeviceBuffer*> param = model->Parameter(tensor);
    ASSERT_TRUE(param.ok()) << param.status();
    std::vector<float> ours(static_cast<size_t>((*param)->size()));
    ASSERT_TRUE((*GetBackend("cpu"))->CopyToHost(ours.data(), (*param)->data(), (*param)->size() * 4).ok());
    std::vector<float> ref = *ToF32(*(*want)->Get(tensor));
    ASSERT_EQ(ours.size(), ref.size()) << tensor;
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(ours[i] - ref[i])));
  }
  std::printf("%s: worst |adapter - torch| after 5 steps = %.3g\n", name.c_str(), worst);
  EXPECT_LT(worst, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, AdamWFiveStepsTest, ::testing::Values("tiny_llama", "tiny_qwen2"));

}  // namespace
}  // namespace ftd
