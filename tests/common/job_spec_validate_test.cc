// ValidateJobSpec on specs built as protos, as a gRPC client sends them: with and without defaults, open-enum
// numbers, non-finite doubles, and one exact message per rule.
#include "common/job_spec_validate.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "common/job_spec_defaults.h"
#include "gtest/gtest.h"

namespace ftd {
namespace {

using ::ftd::v1::JobSpec;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// What a client must send at least: no defaults applied.
JobSpec Minimal() {
  JobSpec spec;
  spec.set_base_model("/models/m");
  spec.add_datasets()->set_path("/data/d.jsonl");
  return spec;
}

TEST(ValidateJobSpecTest, MinimalSpecWithoutDefaultsIsValid) {
  EXPECT_EQ(ValidateJobSpec(Minimal()), absl::OkStatus());
}

TEST(ValidateJobSpecTest, MinimalSpecWithDefaultsIsValid) {
  for (v1::Method method : {v1::METHOD_UNSPECIFIED, v1::METHOD_LORA, v1::METHOD_QLORA, v1::METHOD_FULL}) {
    JobSpec spec = Minimal();
    spec.set_method(method);
    ApplyJobSpecDefaults(&spec);
    EXPECT_EQ(ValidateJobSpec(spec), absl::OkStatus()) << spec.DebugString();
  }
}

TEST(ValidateJobSpecTest, EveryFeatureTogetherIsValid) {
  JobSpec spec = Minimal();
  spec.set_name(std::string(128, 'n'));
  spec.set_method(v1::METHOD_QLORA);
  spec.set_bnb_4bit_use_double_quant(false);
  spec.add_lora_target_modules("all-linear");
  spec.set_lora_dropout(0.999);
  spec.set_chat_template(v1::CHAT_TEMPLATE_MISTRAL);
  spec.add_datasets()->set_path("/data/chat.jsonl");
  spec.mutable_datasets(1)->set_type(v1::DATASET_TYPE_CHAT_TEMPLATE);
  spec.mutable_rehearsal()->set_path("/data/general.txt");
  spec.mutable_rehearsal()->set_ratio(0);
  spec.set_max_bad_line_fraction(1);  // Closed interval: every line may be malformed (the load still needs one).
  spec.mutable_early_stopping()->set_general_eval_dataset("/data/held_out.txt");
  spec.set_val_set_size(0.05);  // Early stopping keeps the checkpoint of lowest task validation loss.
  spec.set_max_steps(0);
  spec.set_warmup_steps(5000);  // No max_steps, so warmup is not bounded by it.
  spec.set_max_grad_norm(0);    // Clipping off.
  v1::Benchmark* needle = spec.add_benchmarks();
  needle->set_suite(v1::BENCHMARK_SUITE_LONG_CONTEXT);  // No path needed.
  needle->add_context_lengths(1);
  spec.set_world_size(1024);
  spec.set_max_restarts(0);
  spec.set_priority(-100);
  EXPECT_EQ(ValidateJobSpec(spec), absl::OkStatus());
  ApplyJobSpecDefaults(&spec);
  EXPECT_EQ(ValidateJobSpec(spec), absl::OkStatus());
}

TEST(ValidateJobSpecTest, NameLimitCountsCharactersNotBytes) {
  JobSpec spec = Minimal();
  std::string name;
  for (int i = 0; i < 128; ++i) name += "\xc3\xa9";  // é: two bytes, one character.
  spec.set_name(name);
  EXPECT_EQ(ValidateJobSpec(spec), absl::OkStatus());
  spec.set_name(name + "x");
  EXPECT_EQ(ValidateJobSpec(spec), absl::InvalidArgumentError("name: must be at most 128 characters, got 129"));
}

struct BadProto {
  const char* name;
  std::function<void(JobSpec*)> mutate;  // Applied to Minimal() with defaults applied.
  std::string message;
};

std::vector<BadProto> BadProtos() {
  return {
      {"NoBaseModel", [](JobSpec* s) { s->clear_base_model(); }, "base_model: required"},
      {"NoDatasets", [](JobSpec* s) { s->clear_datasets(); }, "datasets: at least one dataset is required"},
      {"EmptyDatasetPath", [](JobSpec* s) { s->add_datasets(); }, "datasets[1].path: required"},
      {"UnknownMethodNumber", [](JobSpec* s) { s->set_method(static_cast<v1::Method>(7)); }, "method: unknown value 7"},
      {"UnknownDatasetType", [](JobSpec* s) { s->mutable_datasets(0)->set_type(static_cast<v1::DatasetType>(42)); },
       "datasets[0].type: unknown value 42"},
      {"UnknownDevice", [](JobSpec* s) { s->set_device(static_cast<v1::Device>(-1)); }, "device: unknown value -1"},
      {"UnknownScheduler", [](JobSpec* s) { s->set_lr_scheduler(static_cast<v1::LrScheduler>(9)); },
       "lr_scheduler: unknown value 9"},
      {"UnknownChatTemplate", [](JobSpec* s) { s->set_chat_template(static_cast<v1::ChatTemplate>(5)); },
       "chat_template: unknown value 5"},
      {"ZeroRank", [](JobSpec* s) { s->set_lora_r(0); }, "lora_r: must be > 0, got 0"},
      {"NaNAlpha", [](JobSpec* s) { s->set_lora_alpha(kNaN); }, "lora_alpha: must be finite, got nan"},
      {"NegativeAlpha", [](JobSpec* s) { s->set_lora_alpha(-8); }, "lora_alpha: must be > 0, got -8"},
      {"NegativeDropout", [](JobSpec* s) { s->set_lora_dropout(-0.1); }, "lora_dropout: must be in [0, 1), got -0.1"},
      {"LoraFieldsWithFull",
       [](JobSpec* s) { s->set_method(v1::METHOD_FULL); },  // Defaults gave it lora_r: the client's mistake.
       "lora_r: only applies to method lora or qlora, got method full"},
      {"TargetModulesWithFull",
       [](JobSpec* s) {
         *s = Minimal();
         s->set_method(v1::METHOD_FULL);
         s->add_lora_target_modules("q_proj");
       },
       "lora_target_modules: only applies to method lora or qlora, got method full"},
      {"DoubleQuantWithUnspecifiedMethod",
       [](JobSpec* s) {
         *s = Minimal();
         s->set_bnb_4bit_use_double_quant(true);
       },
       "bnb_4bit_use_double_quant: only applies to method qlora, got method lora"},
      {"DoubleQuantWithFull",
       [](JobSpec* s) {
         *s = Minimal();
         s->set_method(v1::METHOD_FULL);
         s->set_bnb_4bit_use_double_quant(true);
       },
       "bnb_4bit_use_double_quant: only applies to method qlora, got method full"},
      {"EmptyTargetModuleName", [](JobSpec* s) { s->add_lora_target_modules(""); },
       "lora_target_modules[2]: unknown module \"\" (expected q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, "
       "down_proj, or the single entry all-linear)"},
      {"AllLinearNotAlone", [](JobSpec* s) { s->add_lora_target_modules("all-linear"); },
       "lora_target_modules[2]: all-linear must be the only entry"},
      {"DuplicateTargetModule", [](JobSpec* s) { s->add_lora_target_modules("v_proj"); },
       "lora_target_modules[2]: duplicate module v_proj"},
      {"ValSetSizeOne", [](JobSpec* s) { s->set_val_set_size(1); }, "val_set_size: must be in [0, 1), got 1"},
      {"RehearsalWithoutPath", [](JobSpec* s) { s->mutable_rehearsal(); }, "rehearsal.path: required"},
      {"RehearsalRatioNegative",
       [](JobSpec* s) {
         s->mutable_rehearsal()->set_path("/g");
         s->mutable_rehearsal()->set_ratio(-0.5);
       },
       "rehearsal.ratio: must be in [0, 1), got -0.5"},
      {"ZeroSequenceLen", [](JobSpec* s) { s->set_sequence_len(0); }, "sequence_len: must be > 0, got 0"},
      {"ChatDatasetWithoutTemplate",
       [](JobSpec* s) { s->mutable_datasets(0)->set_type(v1::DATASET_TYPE_CHAT_TEMPLATE); },
       "chat_template: required because datasets[0] has type chat_template"},
      {"BadLineFractionAboveOne", [](JobSpec* s) { s->set_max_bad_line_fraction(1.5); },
       "max_bad_line_fraction: must be in [0, 1], got 1.5"},
      {"BadLineFractionNegative", [](JobSpec* s) { s->set_max_bad_line_fraction(-0.01); },
       "max_bad_line_fraction: must be in [0, 1], got -0.01"},
      {"ZeroMicroBatch", [](JobSpec* s) { s->set_micro_batch_size(0); }, "micro_batch_size: must be > 0, got 0"},
      {"NegativeAccumulation", [](JobSpec* s) { s->set_gradient_accumulation_steps(-2); },
       "gradient_accumulation_steps: must be > 0, got -2"},
      {"ZeroEpochs", [](JobSpec* s) { s->set_num_epochs(0); }, "num_epochs: must be > 0, got 0"},
      {"NegativeMaxSteps", [](JobSpec* s) { s->set_max_steps(-1); }, "max_steps: must be >= 0, got -1"},
      {"ZeroLearningRate", [](JobSpec* s) { s->set_learning_rate(0); }, "learning_rate: must be > 0, got 0"},
      {"InfiniteLearningRate", [](JobSpec* s) { s->set_learning_rate(kInf); },
       "learning_rate: must be finite, got inf"},
      {"NegativeWarmup", [](JobSpec* s) { s->set_warmup_steps(-5); }, "warmup_steps: must be >= 0, got -5"},
      {"WarmupPastMaxSteps",
       [](JobSpec* s) {
         s->set_max_steps(10);
         s->set_warmup_steps(11);
       },
       "warmup_steps: must be <= max_steps (10), got 11"},
      {"NegativeWeightDecay", [](JobSpec* s) { s->set_weight_decay(-0.01); }, "weight_decay: must be >= 0, got -0.01"},
      {"NegativeInfGradNorm", [](JobSpec* s) { s->set_max_grad_norm(-kInf); },
       "max_grad_norm: must be finite, got -inf"},
      {"NegativeGradNorm", [](JobSpec* s) { s->set_max_grad_norm(-1); }, "max_grad_norm: must be >= 0, got -1"},
      {"ZeroEvalSteps", [](JobSpec* s) { s->set_eval_steps(0); }, "eval_steps: must be > 0, got 0"},
      {"ZeroSaveSteps", [](JobSpec* s) { s->set_save_steps(0); }, "save_steps: must be > 0, got 0"},
      {"ZeroSaveTotalLimit", [](JobSpec* s) { s->set_save_total_limit(0); }, "save_total_limit: must be > 0, got 0"},
      {"EarlyStoppingWithoutDataset", [](JobSpec* s) { s->mutable_early_stopping()->set_patience(2); },
       "early_stopping.general_eval_dataset: required"},
      {"ZeroPplRise",
       [](JobSpec* s) {
         s->mutable_early_stopping()->set_general_eval_dataset("/g");
         s->mutable_early_stopping()->set_general_ppl_max_rise(0);
       },
       "early_stopping.general_ppl_max_rise: must be > 0, got 0"},
      {"ZeroPatience",
       [](JobSpec* s) {
         s->mutable_early_stopping()->set_general_eval_dataset("/g");
         s->mutable_early_stopping()->set_patience(0);
       },
       "early_stopping.patience: must be >= 1, got 0"},
      {"EarlyStoppingWithoutValidationSplit",
       [](JobSpec* s) { s->mutable_early_stopping()->set_general_eval_dataset("/g"); },
       "val_set_size: must be > 0 with early_stopping (the best checkpoint is the one with the lowest task "
       "validation loss)"},
      {"BenchmarkWithoutSuite", [](JobSpec* s) { s->add_benchmarks()->set_path("/x"); },
       "benchmarks[0].suite: required"},
      {"BenchmarkUnknownSuite", [](JobSpec* s) { s->add_benchmarks()->set_suite(static_cast<v1::BenchmarkSuite>(77)); },
       "benchmarks[0].suite: unknown value 77"},
      {"MmluWithoutPath", [](JobSpec* s) { s->add_benchmarks()->set_suite(v1::BENCHMARK_SUITE_MMLU); },
       "benchmarks[0].path: required"},
      {"NegativeFewshot",
       [](JobSpec* s) {
         v1::Benchmark* b = s->add_benchmarks();
         b->set_suite(v1::BENCHMARK_SUITE_MMLU);
         b->set_path("/mmlu");
         b->set_num_fewshot(-1);
       },
       "benchmarks[0].num_fewshot: must be >= 0, got -1"},
      {"NegativeContextLength",
       [](JobSpec* s) {
         v1::Benchmark* b = s->add_benchmarks();
         b->set_suite(v1::BENCHMARK_SUITE_LONG_CONTEXT);
         b->add_context_lengths(-4096);
       },
       "benchmarks[0].context_lengths[0]: must be > 0, got -4096"},
      {"ZeroWorldSize", [](JobSpec* s) { s->set_world_size(0); }, "world_size: must be in [1, 1024], got 0"},
      {"TooManyRestarts", [](JobSpec* s) { s->set_max_restarts(101); }, "max_restarts: must be in [0, 100], got 101"},
      {"PriorityTooLow", [](JobSpec* s) { s->set_priority(-101); }, "priority: must be in [-100, 100], got -101"},
  };
}

class BadProtoTest : public testing::TestWithParam<BadProto> {};

TEST_P(BadProtoTest, RejectedWithExactMessage) {
  JobSpec spec = Minimal();
  ApplyJobSpecDefaults(&spec);
  GetParam().mutate(&spec);
  EXPECT_EQ(ValidateJobSpec(spec), absl::InvalidArgumentError(GetParam().message)) << spec.DebugString();
}

INSTANTIATE_TEST_SUITE_P(Cases, BadProtoTest, testing::ValuesIn(BadProtos()),
                         [](const testing::TestParamInfo<BadProto>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace ftd
