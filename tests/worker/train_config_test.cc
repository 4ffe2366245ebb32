// Job-spec YAML -> TrainConfig: the job spec's defaults, every key the trainer reads, and a message naming the
// key for each bad value, unknown key and feature the single-process trainer does not run yet.
#include "worker/train/train_config.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/file_io.h"

namespace ftd {
namespace {

constexpr char kMinimal[] = "base_model: /models/tiny\ndatasets:\n  - path: /data/train.jsonl\n";

TEST(TrainConfigTest, MinimalConfigTakesTheJobSpecDefaults) {
  absl::StatusOr<TrainConfig> c = ParseTrainConfigYaml(kMinimal, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->base_model, "/models/tiny");
  ASSERT_EQ(c->datasets.size(), 1u);
  EXPECT_EQ(c->datasets[0].path, "/data/train.jsonl");
  EXPECT_EQ(c->datasets[0].format, RecordFormat::kAuto);
  EXPECT_EQ(c->method, TrainMethod::kLora);
  EXPECT_EQ(c->lora.r, 8);
  EXPECT_EQ(c->lora.lora_alpha, 8);
  EXPECT_EQ(c->lora.lora_dropout, 0);
  EXPECT_EQ(c->lora.target_modules, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_FALSE(c->lora.use_rslora);
  EXPECT_EQ(c->sequence_len, 2048);
  EXPECT_EQ(c->micro_batch_size, 1);
  EXPECT_EQ(c->gradient_accumulation_steps, 1);
  EXPECT_EQ(c->num_epochs, 1.0);
  EXPECT_EQ(c->max_steps, 0);
  EXPECT_EQ(c->learning_rate, 2e-4);
  EXPECT_EQ(c->lr_scheduler, LrSchedule::kCosine);
  EXPECT_EQ(c->warmup_steps, 0);
  EXPECT_EQ(c->weight_decay, 0.0);
  EXPECT_EQ(c->max_grad_norm, 1.0);
  EXPECT_EQ(c->seed, 42u);
  EXPECT_EQ(c->max_bad_line_fraction, 0.01);
  EXPECT_FALSE(c->chat_template.has_value());
  EXPECT_FALSE(c->rehearsal.has_value());
  EXPECT_EQ(c->device, TrainDevice::kCpu) << "without the key, the CPU";
}

TEST(TrainConfigTest, ReadsEveryTrainingKey) {
  const std::string yaml = std::string(kMinimal) + R"(name: tune
method: full
lora_r: 16
lora_alpha: 32
lora_dropout: 0.05
lora_target_modules: all-linear
use_rslora: true
sequence_len: 512
micro_batch_size: 4
gradient_accumulation_steps: 8
num_epochs: 2.5
max_steps: 100
learning_rate: 1e-4
lr_scheduler: linear
warmup_steps: 10
weight_decay: 0.01
max_grad_norm: 0.5
gradient_checkpointing: true
seed: 1234
world_size: 2
device: cuda
val_set_size: 0.05
sample_packing: true
eval_steps: 5
save_steps: 7
save_total_limit: 0
early_stopping: {general_eval_dataset: wiki.jsonl, general_ppl_max_rise: 0.25, patience: 3}
priority: 3
)";
  std::vector<std::string> ignored;
  absl::StatusOr<TrainConfig> c = ParseTrainConfigYaml(yaml, &ignored);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "tune");
  EXPECT_EQ(c->method, TrainMethod::kFull);
  EXPECT_EQ(c->lora.r, 16);
  EXPECT_EQ(c->lora.lora_alpha, 32);
  EXPECT_EQ(c->lora.lora_dropout, 0.05);
  EXPECT_TRUE(c->lora.all_linear);
  EXPECT_TRUE(c->lora.use_rslora);
  EXPECT_EQ(c->sequence_len, 512);
  EXPECT_EQ(c->micro_batch_size, 4);
  EXPECT_EQ(c->gradient_accumulation_steps, 8);
  EXPECT_EQ(c->num_epochs, 2.5);
  EXPECT_EQ(c->max_steps, 100);
  EXPECT_EQ(c->learning_rate, 1e-4);
  EXPECT_EQ(c->lr_scheduler, LrSchedule::kLinear);
  EXPECT_EQ(c->warmup_steps, 10);
  EXPECT_EQ(c->weight_decay, 0.01);
  EXPECT_EQ(c->max_grad_norm, 0.5);
  EXPECT_TRUE(c->gradient_checkpointing);
  EXPECT_EQ(c->seed, 1234u);
  EXPECT_EQ(c->world_size, 2);
  EXPECT_EQ(c->device, TrainDevice::kCuda);
  EXPECT_TRUE(c->sample_packing);
  EXPECT_EQ(c->val_set_size, 0.05);
  EXPECT_EQ(c->eval_steps, 5);
  EXPECT_EQ(c->save_steps, 7);
  EXPECT_EQ(c->save_total_limit, 0);
  ASSERT_TRUE(c->early_stopping.has_value());
  EXPECT_EQ(c->early_stopping->general_eval_dataset, "wiki.jsonl");
  EXPECT_EQ(c->early_stopping->general_ppl_max_rise, 0.25);
  EXPECT_EQ(c->early_stopping->patience, 3);
  EXPECT_EQ(ignored, (std::vector<std::string>{"priority"}));
}

TEST(TrainConfigTest, ChatTemplateRehearsalAndBadLines) {
  absl::StatusOr<TrainConfig> c = ParseTrainConfigYaml(R"(base_model: m
datasets:
  - {path: chats.jsonl, type: chat_template}
  - {path: mixed.jsonl}
chat_template: qwen2.5
rehearsal: {path: general.txt, ratio: 0.25}
max_bad_line_fraction: 0
)", nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->datasets[0].format, RecordFormat::kMessages);
  EXPECT_EQ(c->datasets[1].format, RecordFormat::kAuto);
  ASSERT_TRUE(c->chat_template.has_value());
  EXPECT_EQ(c->chat_template->name, "qwen2.5");
  EXPECT_EQ(c->chat_template->format, ChatFormat::kChatMl);
  EXPECT_TRUE(c->chat_template->default_system.has_value());
  ASSERT_TRUE(c->rehearsal.has_value());
  EXPECT_EQ(c->rehearsal->path, "general.txt");
  EXPECT_EQ(c->rehearsal->ratio, 0.25);
  EXPECT_EQ(c->max_bad_line_fraction, 0);

  c = ParseTrainConfigYaml(std::string(kMinimal) + "rehearsal: {path: general.jsonl}\nmax_bad_line_fraction: 1\n",
                           nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rehearsal->ratio, 0.1);  // The job spec's default.
  EXPECT_EQ(c->max_bad_line_fraction, 1);

  const absl::Status no_template =
      ParseTrainConfigYaml("base_model: m\ndatasets:\n  - {path: a}\n  - {path: b, type: chat_template}\n", nullptr)
          .status();
  EXPECT_EQ(no_template.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(no_template.message(), "chat_template: required because datasets[1] has type chat_template (one of "
                                   "llama3, chatml, qwen2.5, smollm2, mistral)");
}

TEST(TrainConfigTest, DatasetTypesAndTargetLists) {
  absl::StatusOr<TrainConfig> c = ParseTrainConfigYaml(R"(base_model: m
datasets:
  - {path: a.jsonl, type: text}
  - {path: b.jsonl, type: prompt-completion}
  - {path: c.jsonl, type: prompt_completion}
lora_target_modules: [q_proj, down_proj]
)", nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->datasets.size(), 3u);
  EXPECT_EQ(c->datasets[0].format, RecordFormat::kText);
  EXPECT_EQ(c->datasets[1].format, RecordFormat::kPromptCompletion);
  EXPECT_EQ(c->datasets[2].format, RecordFormat::kPromptCompletion);
  EXPECT_EQ(c->lora.target_modules, (std::vector<std::string>{"q_proj", "down_proj"}));
}

struct BadCase {
  std::string extra;  // Appended to kMinimal (a repeated key replaces the minimal one: yaml-cpp keeps the last).
  absl::StatusCode code;
  std::string message;
};

TEST(TrainConfigTest, BadValuesNameTheKey) {
  const std::vector<BadCase> cases = {
      {"lora_r: 0\n", absl::StatusCode::kInvalidArgument, "lora_r: must be >= 1, got 0"},
      {"lora_r: eight\n", absl::StatusCode::kInvalidArgument, "lora_r: expected an integer, got \"eight\""},
      {"lora_alpha: -1\n", absl::StatusCode::kInvalidArgument, "lora_alpha: must be > 0"},
      {"lora_dropout: 1\n", absl::StatusCode::kInvalidArgument, "lora_dropout: must be in [0, 1)"},
      {"lora_target_modules: [q_proj, lm_head]\n", absl::StatusCode::kInvalidArgument,
       "lora_target_modules[1]: expected one of"},
      {"lora_target_modules: []\n", absl::StatusCode::kInvalidArgument,
       "lora_target_modules: must name at least one module"},
      {"use_rslora: maybe\n", absl::StatusCode::kInvalidArgument, "use_rslora: expected true or false"},
      {"method: dora\n", absl::StatusCode::kInvalidArgument, "method: expected one of lora, qlora, full"},
      {"micro_batch_size: 0\n", absl::StatusCode::kInvalidArgument, "micro_batch_size: must be >= 1"},
      {"gradient_accumulation_steps: 1.5\n", absl::StatusCode::kInvalidArgument,
       "gradient_accumulation_steps: expected an integer"},
      {"num_epochs: 0\n", absl::StatusCode::kInvalidArgument, "num_epochs: must be > 0"},
      {"learning_rate: .nan\n", absl::StatusCode::kInvalidArgument, "learning_rate: expected a finite number"},
      {"learning_rate: 0\n", absl::StatusCode::kInvalidArgument, "learning_rate: must be > 0"},
      {"lr_scheduler: step\n", absl::StatusCode::kInvalidArgument, "lr_scheduler: expected one of cosine"},
      {"warmup_steps: -1\n", absl::StatusCode::kInvalidArgument, "warmup_steps: must be >= 0"},
      {"max_grad_norm: -1\n", absl::StatusCode::kInvalidArgument, "max_grad_norm: must be >= 0"},
      {"seed: -3\n", absl::StatusCode::kInvalidArgument, "seed: must be >= 0"},
      {"sequence_len: 1\n", absl::StatusCode::kInvalidArgument, "sequence_len: must be >= 2"},
      {"learning_rat: 1e-4\n", absl::StatusCode::kInvalidArgument, "learning_rat: unknown key"},
      {"datasets: []\n", absl::StatusCode::kInvalidArgument, "datasets: expected a non-empty list"},
      {"datasets:\n  - {type: text}\n", absl::StatusCode::kInvalidArgument, "datasets[0].path: is required"},
      {"datasets:\n  - {path: a, kind: text}\n", absl::StatusCode::kInvalidArgument,
       "datasets[0].kind: unknown key"},
      {"datasets:\n  - {path: a, type: csv}\n", absl::StatusCode::kInvalidArgument,
       "datasets[0].type: expected one of auto, text"},
      {"chat_template: vicuna\n", absl::StatusCode::kInvalidArgument,
       "chat_template: unknown chat template \"vicuna\"; known: llama3, chatml, qwen2.5, smollm2, mistral"},
      {"chat_template: [chatml]\n", absl::StatusCode::kInvalidArgument, "chat_template: expected a string"},
      {"max_bad_line_fraction: 1.5\n", absl::StatusCode::kInvalidArgument, "max_bad_line_fraction: must be in [0, 1]"},
      {"max_bad_line_fraction: -0.1\n", absl::StatusCode::kInvalidArgument,
       "max_bad_line_fraction: must be in [0, 1]"},
      {"max_bad_line_fraction: few\n", absl::StatusCode::kInvalidArgument,
       "max_bad_line_fraction: expected a finite number"},
      {"rehearsal: {ratio: 0.2}\n", absl::StatusCode::kInvalidArgument, "rehearsal.path: is required"},
      {"rehearsal: {path: g.txt, ratio: 1}\n", absl::StatusCode::kInvalidArgument,
       "rehearsal.ratio: must be in [0, 1)"},
      {"rehearsal: {path: g.txt, mix: 0.2}\n", absl::StatusCode::kInvalidArgument, "rehearsal.mix: unknown key"},
      {"rehearsal: g.txt\n", absl::StatusCode::kInvalidArgument, "rehearsal: expected a mapping {path, ratio}"},
      {"bnb_4bit_use_double_quant: true\n", absl::StatusCode::kInvalidArgument,
       "bnb_4bit_use_double_quant: only applies to method qlora, got method lora"},
      {"method: qlora\nbnb_4bit_use_double_quant: perhaps\n", absl::StatusCode::kInvalidArgument,
       "bnb_4bit_use_double_quant: expected true or false"},
      // Job-spec features the standalone trainer does not run yet: refused, not silently dropped.
      {"sample_packing: 2\n", absl::StatusCode::kInvalidArgument, "sample_packing: expected true or false"},
      {"val_set_size: 1\n", absl::StatusCode::kInvalidArgument, "val_set_size: must be in [0, 1)"},
      {"eval_steps: 0\n", absl::StatusCode::kInvalidArgument, "eval_steps: must be >= 1"},
      {"save_steps: -2\n", absl::StatusCode::kInvalidArgument, "save_steps: must be >= 1"},
      {"world_size: 0\n", absl::StatusCode::kInvalidArgument, "world_size: must be >= 1"},
      {"early_stopping: {patience: 2}\n", absl::StatusCode::kInvalidArgument,
       "early_stopping.general_eval_dataset: is required"},
      {"early_stopping: {general_eval_dataset: g, patience: 0}\n", absl::StatusCode::kInvalidArgument,
       "early_stopping.patience: must be >= 1"},
      {"early_stopping: {general_eval_dataset: g, general_ppl_max_rise: 0}\n", absl::StatusCode::kInvalidArgument,
       "early_stopping.general_ppl_max_rise: must be > 0"},
      {"early_stopping: {general_eval_dataset: g, window: 3}\n", absl::StatusCode::kInvalidArgument,
       "early_stopping.window: unknown key"},
      {"early_stopping: g.jsonl\n", absl::StatusCode::kInvalidArgument, "early_stopping: expected a mapping"},
      {"device: tpu\n", absl::StatusCode::kInvalidArgument, "device: "},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<TrainConfig> got = ParseTrainConfigYaml(std::string(kMinimal) + c.extra, nullptr);
    ASSERT_FALSE(got.ok()) << c.extra;
    EXPECT_EQ(got.status().code(), c.code) << c.extra << " -> " << got.status();
    EXPECT_EQ(got.status().message().substr(0, c.message.size()), c.message) << c.extra << " -> " << got.status();
  }
}

TEST(TrainConfigTest, MissingRequiredKeysAndBadYaml) {
  EXPECT_EQ(ParseTrainConfigYaml("datasets: [{path: a}]\n", nullptr).status().message(), "base_model: is required");
  EXPECT_EQ(ParseTrainConfigYaml("base_model: m\n", nullptr).status().message(), "datasets: is required");
  EXPECT_EQ(ParseTrainConfigYaml("- a\n- b\n", nullptr).status().message(),
            "expected a mapping of job-spec keys at the top level");
  const absl::Status bad = ParseTrainConfigYaml("base_model: [unclosed\n", nullptr).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("not valid YAML"), absl::string_view::npos) << bad;
}

TEST(TrainConfigTest, TheFullJobSpecExampleIsRead) {
  // tests/common/testdata/full.yaml sets every job-spec key to a value other than its default.
  absl::StatusOr<std::string> yaml =
      ReadFileToString(std::string(FTD_SOURCE_DIR) + "/tests/common/testdata/full.yaml");
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  std::vector<std::string> ignored;
  const absl::StatusOr<TrainConfig> config = ParseTrainConfigYaml(*yaml, &ignored);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->method, TrainMethod::kQlora);
  EXPECT_FALSE(config->double_quant);
  EXPECT_EQ(ignored, (std::vector<std::string>{"benchmarks", "max_restarts", "priority"}));
}

TEST(TrainConfigTest, QloraDoubleQuantisesByDefault) {
  const absl::StatusOr<TrainConfig> config = ParseTrainConfigYaml(std::string(kMinimal) + "method: qlora\n", nullptr);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->method, TrainMethod::kQlora);
  EXPECT_TRUE(config->double_quant);
  EXPECT_TRUE(TrainsAdapter(config->method));
  EXPECT_STREQ(TrainMethodName(config->method), "qlora");
}

TEST(TrainConfigTest, EveryJobSpecKeyIsKnown) {
  // Read, ignored or refused with a reason, but never "unknown key" (JobSpecKeys() is checked against the
  // JobSpec proto by train_config_job_spec_test in the full build).
  for (const std::string& key : JobSpecKeys()) {
    const std::string yaml = key == "base_model" || key == "datasets" ? kMinimal : std::string(kMinimal) + key + ": ~\n";
    const absl::Status status = ParseTrainConfigYaml(yaml, nullptr).status();
    EXPECT_EQ(status.message().find("unknown key"), absl::string_view::npos) << key << ": " << status;
  }
}

}  // namespace
}  // namespace ftd
