// LR schedules against transformers' schedulers: the lrs gen_training.py recorded from
// get_cosine_schedule_with_warmup, and hand-computed linear/constant values.
#include "worker/train/lr_schedule.h"

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

TEST(LrScheduleTest, CosineMatchesTransformersRecordedLrs) {
  for (const char* model : {"tiny_llama", "tiny_qwen2"}) {
    const std::string path = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/training/" + model + "/lora_5steps.json";
    std::ifstream in(path);
    ASSERT_TRUE(in) << path;
    const nlohmann::json recorded = nlohmann::json::parse(in);
    const nlohmann::json& schedule = recorded["schedule"];
    LrScheduleConfig config{LrSchedule::kCosine, recorded["optimizer"]["lr"].get<double>(),
                            schedule["num_warmup_steps"].get<int64_t>(),
                            schedule["num_training_steps"].get<int64_t>()};
    const nlohmann::json& lrs = recorded["lrs"];
    ASSERT_EQ(lrs.size(), 5u);
    for (size_t step = 0; step < lrs.size(); ++step) {
      EXPECT_NEAR(LearningRate(config, static_cast<int64_t>(step)), lrs[step].get<double>(), 1e-15)
          << model << " step " << step;
    }
  }
}

TEST(LrScheduleTest, LinearAndConstantWithWarmup) {
  LrScheduleConfig linear{LrSchedule::kLinear, 1.0, 2, 6};
  const double want_linear[] = {0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0};
  for (int step = 0; step < 8; ++step) EXPECT_DOUBLE_EQ(LearningRate(linear, step), want_linear[step]) << step;
  LrScheduleConfig constant{LrSchedule::kConstant, 0.5, 4, 10};
  EXPECT_DOUBLE_EQ(LearningRate(constant, 0), 0.0);
  EXPECT_DOUBLE_EQ(LearningRate(constant, 2), 0.25);
  EXPECT_DOUBLE_EQ(LearningRate(constant, 4), 0.5);
  EXPECT_DOUBLE_EQ(LearningRate(constant, 100), 0.5);
  LrScheduleConfig no_warmup{LrSchedule::kCosine, 2.0, 0, 4};
  EXPECT_DOUBLE_EQ(LearningRate(no_warmup, 0), 2.0);
  EXPECT_NEAR(LearningRate(no_warmup, 2), 1.0, 1e-15);
  EXPECT_NEAR(LearningRate(no_warmup, 4), 0.0, 1e-15);  // The last step of the run decays to 0.
}

TEST(LrScheduleTest, RejectsBadConfigsNamingTheKey) {
  EXPECT_EQ(CheckLrSchedule({LrSchedule::kCosine, 0.0, 0, 5}).status().message(),
            "learning_rate: must be > 0 and finite, got 0");
  EXPECT_EQ(CheckLrSchedule({LrSchedule::kCosine, 1e-4, -1, 5}).status().message(),
            "warmup_steps: must be >= 0, got -1");
  EXPECT_EQ(CheckLrSchedule({LrSchedule::kCosine, 1e-4, 0, 0}).status().message(),
            "total steps: must be >= 1, got 0");
  EXPECT_TRUE(CheckLrSchedule({LrSchedule::kLinear, 1e-4, 3, 5}).ok());
}

}  // namespace
}  // namespace ftd
