// RunTraining end to end on the tiny Llama fixture: LoRA and full fine-tuning learn (the loss falls) and write
// loadable results; gradient accumulation equals one big micro-batch (the step's mean token loss); a seed
// replays a run bit for bit; each step reports its model FLOPs, MFU, data time and memory peak; bad input fails
// with its cause.
#include "worker/train/trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/file_io.h"
#include "model/hf_model.h"
#include "model/model_config.h"
#include "model/peft_adapter.h"
#include "model/training_flops.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

const std::string kModel = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io/tiny_llama";

// Text and prompt/completion records of different lengths (so micro-batches need padding).
void WriteDataset(const std::string& path, int records) {
  std::ofstream out(path);
  for (int i = 0; i < records; ++i) {
    if (i % 2 == 0) {
      out << R"({"text": "The cat sat on mat number )" << i << std::string(static_cast<size_t>(i % 5), '!') << "\"}\n";
    } else {
      out << R"({"prompt": "Q: what is )" << i << R"( plus one?", "completion": " A: )" << i + 1 << "\"}\n";
    }
  }
}

TrainConfig BaseConfig(const std::string& data) {
  TrainConfig c;
  c.base_model = kModel;
  c.datasets = {{data, RecordFormat::kAuto}};
  c.lora.r = 4;
  c.lora.lora_alpha = 8;
  c.lora.all_linear = true;
  c.sequence_len = 32;
  c.learning_rate = 1e-2;
  c.seed = 7;
  return c;
}

struct TrainRun {
  absl::StatusOr<TrainSummary> summary;
  std::vector<TrainStepLog> steps;
};

TrainRun Train(const TrainConfig& config, const std::string& out_dir, double peak_flops = 0) {
  TrainRun run;
  TrainRunOptions options;
  options.output_dir = out_dir;
  options.backend = *GetBackend("cpu");
  options.peak_flops = peak_flops;
  options.on_step = [&](const TrainStepLog& s) { run.steps.push_back(s); };
  run.summary = RunTraining(config, options);
  return run;
}

TEST(TrainerTest, LoraLearnsAndWritesAPeftAdapter) {
  TempDir tmp;
  WriteDataset(tmp.file("data.jsonl"), 16);
  TrainConfig c = BaseConfig(tmp.file("data.jsonl"));
  c.micro_batch_size = 4;
  c.num_epochs = 4;
  c.lr_scheduler = LrSchedule::kConstant;
  const TrainRun run = Train(c, tmp.file("adapter"));
  ASSERT_TRUE(run.summary.ok()) << run.summary.status();
  EXPECT_EQ(run.summary->steps, 16);  // 4 micro-batches an epoch, no accumulation, 4 epochs
  ASSERT_EQ(run.steps.size(), 16u);
  EXPECT_EQ(run.steps.back().epoch, 3);
  // Each epoch sees every example once: the mean loss of the last epoch is well below the first's.
  double first = 0, last = 0;
  for (int i = 0; i < 4; ++i) first += run.steps[i].loss, last += run.steps[12 + i].loss;
  EXPECT_LT(last, 0.8 * first) << first / 4 << " -> " << last / 4;

  absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(tmp.file("adapter"));
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  EXPECT_EQ(adapter->config.r, 4);
  EXPECT_EQ(adapter->config.lora_alpha, 8);
  EXPECT_TRUE(adapter->config.all_linear);
  EXPECT_EQ(adapter->weights.size(), 2u * 7u);  // tiny_llama: 2 layers x 7 projections
  for (const auto& [key, pair] : adapter->weights) {
    absl::StatusOr<std::vector<float>> b = ToF32(pair.b.view());
    ASSERT_TRUE(b.ok());
    double norm = 0;
    for (float x : *b) norm += x * x;
    EXPECT_GT(norm, 0) << key.module << " B is still zero: it was not trained";
  }
}

TEST(TrainerTest, EachStepReportsItsCostsFlopsAndMemory) {
  TempDir tmp;
  WriteDataset(tmp.file("data.jsonl"), 8);
  TrainConfig c = BaseConfig(tmp.file("data.jsonl"));
  c.micro_batch_size = 4;
  c.gradient_accumulation_steps = 2;
  c.max_steps = 3;
  const TrainRun run = Train(c, tmp.file("adapter"), /*peak_flops=*/1e12);
  ASSERT_TRUE(run.summary.ok()) << run.summary.status();
  ASSERT_EQ(run.steps.size(), 3u);
  const absl::StatusOr<LlamaConfig> model = LoadLlamaConfig(kModel);
  ASSERT_TRUE(model.ok()) << model.status();
  // r = 4 on all seven projections of every layer: r x (in + out) each.
  const int64_t C = model->hidden_size, I = model->intermediate_size;
  const int64_t adapter_params = model->num_hidden_layers * c.lora.r *
                                 ((C + model->q_dim()) * 2 + (C + model->kv_dim()) * 2 + (C + I) * 3);
  int64_t previous_peak = 0;
  for (const TrainStepLog& s : run.steps) {
    SCOPED_TRACE(s.step);
    // Model FLOPs per the rule: between every micro-batch being one position long and the whole window.
    const auto flops = [&](int64_t seq) {
      return static_cast<double>(s.tokens) *
             static_cast<double>(TrainingFlopsPerToken(*model, adapter_params, false, seq));
    };
    EXPECT_GT(s.model_flops, flops(1));
    EXPECT_LE(s.model_flops, flops(c.sequence_len));
    ASSERT_TRUE(s.mfu.has_value());
    EXPECT_DOUBLE_EQ(*s.mfu, s.model_flops / s.seconds / 1e12);
    EXPECT_GE(s.data_seconds, 0);
    EXPECT_LT(s.data_seconds, s.seconds);
    EXPECT_EQ(s.allreduce_seconds, 0) << "one rank sums nothing";
    ASSERT_TRUE(s.device_memory_peak_bytes.has_value());
    EXPECT_GE(*s.device_memory_peak_bytes, previous_peak);
    previous_peak = *s.device_memory_peak_bytes;
  }
  // The backend holds at least the fp32 base weights.
  EXPECT_GT(previous_peak, 4 * MatmulWeightCount(*model));
}

TEST(TrainerTest, GradientCheckpointingChangesNoResult) {
  TempDir tmp;
  WriteDataset(tmp.file("data.jsonl"), 8);
  TrainConfig c = BaseConfig(tmp.file("data.jsonl"));
  c.micro_batch_size = 4;
  c.max_steps = 4;
  c.lora.lora_dropout = 0.1;  // The recomputed forward must redraw the same masks.
  const TrainRun kept = Train(c, tmp.file("kept"));
  c.gradient_checkpointing = true;
  const TrainRun recomputed = Train(c, tmp.file("recomputed"));
  ASSERT_TRUE(kept.summary.ok()) << kept.summary.status();
  ASSERT_TRUE(recomputed.summary.ok()) << recomputed.summary.status();
  ASSERT_EQ(kept.steps.size(), recomputed.steps.size());
  for (size_t i = 0; i < kept.steps.size(); ++i) {
    EXPECT_EQ(kept.steps[i].loss, recomputed.steps[i].loss) << "step " << i + 1;
    EXPECT_EQ(kept.steps[i].grad_norm, recomputed.steps[i].grad_norm) << "step " << i + 1;
  }
  EXPECT_EQ(*ReadFileToString(tmp.file("kept/adapter_model.safetensors")),
            *ReadFileToString(tmp.file("recomputed/adapter_model.safetensors")));
}

TEST(TrainerTest, AccumulatedMicroBatchesEqualOneBigBatch) {
  TempDir tmp;
  WriteDataset(tmp.file("data.jsonl"), 6);
  TrainConfig big = BaseConfig(tmp.file("data.jsonl"));
  big.micro_batch_size = 6;
  big.max_steps = 3;
  TrainConfig accumulated = big;
  accumulated.micro_batch_size = 2;
  accumulated.gradient_accumulation_steps = 3;
  const TrainRun a = Train(big, tmp.file("big"));
  const TrainRun b = Train(accumulated, tmp.file("accumulated"));
  ASSERT_TRUE(a.summary.ok()) << a.summary.status();
  ASSERT_TRUE(b.summary.ok()) << b.summary.status();
  ASSERT_EQ(a.steps.size(), 3u);
  ASSERT_EQ(b.steps.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    // Same examples, same loss (the mean over the step's targets, not a mean of micro-batch means) and the same
    // gradient, up to fp32 summation order.
    EXPECT_EQ(a.steps[i].targets, b.steps[i].targets);
    EXPECT_NEAR(a.steps[i].loss, b.steps[i].loss, 1e-5 * a.steps[i].loss) << i;
    EXPECT_NEAR(a.steps[i].grad_norm, b.steps[i].grad_norm, 1e-4 * a.steps[i].grad_norm) << i;
  }
  absl::StatusOr<LoraAdapter> x = ReadLoraAdapter(tmp.file("big"));
  absl::StatusOr<LoraAdapter> y = ReadLoraAdapter(tmp.file("accumulated"));
  ASSERT_TRUE(x.ok() && y.ok());
  for (const auto& [key, pair] : x->weights) {
    const std::vector<float> p = *ToF32(pair.a.view()), q = *ToF32(y->weights.at(key).a.view());
    for (size_t i = 0; i < p.size(); ++i) ASSERT_NEAR(p[i], q[i], 1e-4) << key.module << " A[" << i << "]";
  }
}

TEST(TrainerTest, ASeedReplaysTheRunExactlyWithDropout) {
  TempDir tmp;
  WriteDataset(tmp.file("data.jsonl"), 8);
  TrainConfig c = BaseConfig(tmp.file("data.jsonl"));
  c.micro_batch_size = 2;
  c.lora.lora_dropout = 0.1;
  c.max_steps = 5;
  const TrainRun a = Train(c, tmp.file("a"));
  const TrainRun b = Train(c, tmp.file("b"));
  c.seed = 8;
  const TrainRun other = Train(c, tmp.file("other"));
  ASSERT_TRUE(a.summary.ok() && b.summary.ok() && other.summary.ok()) << a.summary.status();
  const std::string weights = "adapter_model.safetensors";
  EXPECT_EQ(*ReadFileToString(JoinPath(tmp.file("a"), weights)), *ReadFileToString(JoinPath(tmp.file("b"), weights)));
  EXPECT_NE(*ReadFileToString(JoinPath(tmp.file("a"), weights)),
            *ReadFileToString(JoinPath(tmp.file("other"), weights)));
  for (size_t i = 0; i < a.steps.size(); ++i) EXPECT_EQ(a.steps[i].loss, b.steps[i].loss) << i;
}

TEST(TrainerTest, FullFineTuningWritesTheWholeModel) {
  TempDir tmp;
  WriteDataset(tmp.file("data.jsonl"), 8);
  TrainConfig c = BaseConfig(tmp.file("data.jsonl"));
  c.method = TrainMethod::kFull;
  c.micro_batch_size = 4;
  c.num_epochs = 5;
  c.learning_rate = 3e-3;
  c.lr_scheduler = LrSchedule::kConstant;
  const TrainRun run = Train(c, tmp.file("model"));
  ASSERT_TRUE(run.summary.ok()) << run.summary.status();
  ASSERT_EQ(run.steps.size(), 10u);
  EXPECT_LT(run.steps[8].loss + run.steps[9].loss, 0.8 * (run.steps[0].loss + run.steps[1].loss));
  absl::StatusOr<HfModel> trained = LoadHfModel(tmp.file("model"));
  ASSERT_TRUE(trained.ok()) << trained.status();
  absl::StatusOr<HfModel> base = LoadHfModel(kModel);
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(LlamaTensorSpecs(trained->config).size(), LlamaTensorSpecs(base->config).size());
  EXPECT_EQ(trained->config.dtype, base->config.dtype);
  EXPECT_FALSE(TokenizerFileNames(tmp.file("model")).empty());
  // Every weight moved (AdamW's first steps move each element by about lr).
  for (const HfTensorSpec& spec : LlamaTensorSpecs(base->config)) {
    const std::vector<float> before = *ToF32(*base->weights->Get(spec.name));
    const std::vector<float> after = *ToF32(*trained->weights->Get(spec.name));
    double diff = 0;
    for (size_t i = 0; i < before.size(); ++i) diff = std::max<double>(diff, std::abs(after[i] - before[i]));
    EXPECT_GT(diff, 1e-4) << spec.name;
  }
}

TEST(TrainerTest, BadInputFailsWithItsCause) {
  TempDir tmp;
  {
    std::ofstream out(tmp.file("bad.jsonl"));
    out << R"({"text": "fine"})" << "\n" << R"({"txt": "typo"})" << "\n";
  }
  TrainConfig c = BaseConfig(tmp.file("bad.jsonl"));
  TrainRun run = Train(c, tmp.file("out"));
  ASSERT_FALSE(run.summary.ok());
  EXPECT_NE(run.summary.status().message().find(tmp.file("bad.jsonl") + ":2:"), absl::string_view::npos)
      << run.summary.status();
  c = BaseConfig(tmp.file("bad.jsonl"));
  c.base_model = tmp.file("no_such_model");
  run = Train(c, tmp.file("out"));
  ASSERT_FALSE(run.summary.ok());
  EXPECT_EQ(run.summary.status().message().substr(0, 12), "base_model: ") << run.summary.status();
  EXPECT_FALSE(std::filesystem::exists(tmp.file("out")));  // Nothing written for a failed run.
}

}  // namespace
}  // namespace ftd
