// ApplyJobSpecDefaults: absent fields get the proto-comment defaults, present ones (even explicit zeros) stay,
// adapter defaults follow the method, optional sub-messages are defaulted only when present.
#include "common/job_spec_defaults.h"

#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace ftd {
namespace {

using ::ftd::v1::JobSpec;
using ::google::protobuf::util::MessageDifferencer;

std::vector<std::string> Modules(const JobSpec& spec) {
  return {spec.lora_target_modules().begin(), spec.lora_target_modules().end()};
}

TEST(JobSpecDefaultsTest, EmptySpecGetsTopLevelDefaults) {
  JobSpec spec;
  ApplyJobSpecDefaults(&spec);
  EXPECT_EQ(spec.method(), v1::METHOD_LORA);
  EXPECT_EQ(spec.lora_r(), 8);
  EXPECT_EQ(spec.lora_alpha(), 8);
  EXPECT_TRUE(spec.has_lora_dropout());
  EXPECT_EQ(Modules(spec), (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_TRUE(spec.has_use_rslora());
  EXPECT_FALSE(spec.has_bnb_4bit_use_double_quant());
  EXPECT_TRUE(spec.has_val_set_size());
  EXPECT_EQ(spec.sequence_len(), 2048);
  EXPECT_TRUE(spec.has_sample_packing());
  EXPECT_EQ(spec.chat_template(), v1::CHAT_TEMPLATE_UNSPECIFIED);  // "none" is the default.
  EXPECT_EQ(spec.max_bad_line_fraction(), 0.01);
  EXPECT_EQ(spec.micro_batch_size(), 1);
  EXPECT_EQ(spec.gradient_accumulation_steps(), 1);
  EXPECT_EQ(spec.num_epochs(), 1);
  EXPECT_TRUE(spec.has_max_steps());
  EXPECT_EQ(spec.learning_rate(), 2e-4);
  EXPECT_EQ(spec.lr_scheduler(), v1::LR_SCHEDULER_COSINE);
  EXPECT_TRUE(spec.has_warmup_steps());
  EXPECT_TRUE(spec.has_weight_decay());
  EXPECT_EQ(spec.max_grad_norm(), 1.0);
  EXPECT_EQ(spec.seed(), 42);
  EXPECT_EQ(spec.eval_steps(), 50);
  EXPECT_EQ(spec.save_steps(), 100);
  EXPECT_EQ(spec.save_total_limit(), 2);
  EXPECT_EQ(spec.world_size(), 1);
  EXPECT_EQ(spec.device(), v1::DEVICE_CUDA);
  EXPECT_EQ(spec.max_restarts(), 3);
  EXPECT_TRUE(spec.has_priority());
  // Optional features stay off.
  EXPECT_FALSE(spec.has_rehearsal());
  EXPECT_FALSE(spec.has_early_stopping());
  EXPECT_EQ(spec.benchmarks_size(), 0);
  EXPECT_TRUE(spec.base_model().empty());  // Required fields have no default.
  EXPECT_EQ(spec.datasets_size(), 0);
}

TEST(JobSpecDefaultsTest, QloraGetsDoubleQuant) {
  JobSpec spec;
  spec.set_method(v1::METHOD_QLORA);
  ApplyJobSpecDefaults(&spec);
  EXPECT_TRUE(spec.has_bnb_4bit_use_double_quant());
  EXPECT_TRUE(spec.bnb_4bit_use_double_quant());
  EXPECT_EQ(spec.lora_r(), 8);
}

TEST(JobSpecDefaultsTest, FullFineTuneGetsNoAdapterDefaults) {
  JobSpec spec;
  spec.set_method(v1::METHOD_FULL);
  ApplyJobSpecDefaults(&spec);
  EXPECT_FALSE(spec.has_lora_r());
  EXPECT_FALSE(spec.has_lora_alpha());
  EXPECT_FALSE(spec.has_lora_dropout());
  EXPECT_EQ(spec.lora_target_modules_size(), 0);
  EXPECT_FALSE(spec.has_use_rslora());
  EXPECT_FALSE(spec.has_bnb_4bit_use_double_quant());
  EXPECT_EQ(spec.learning_rate(), 2e-4);  // Everything else is still defaulted.
}

TEST(JobSpecDefaultsTest, PresentValuesAreKeptEvenWhenZero) {
  JobSpec spec;
  spec.set_lora_r(64);
  spec.add_lora_target_modules("all-linear");
  spec.set_use_rslora(true);
  spec.set_max_grad_norm(0);  // Explicitly "no clipping", not "use the default 1.0".
  spec.set_max_restarts(0);
  spec.set_max_bad_line_fraction(0);  // Explicitly "any malformed line fails".
  spec.set_seed(0);
  spec.set_sequence_len(512);
  spec.set_device(v1::DEVICE_CPU);
  spec.add_datasets()->set_type(v1::DATASET_TYPE_TEXT);
  spec.add_datasets();
  ApplyJobSpecDefaults(&spec);
  EXPECT_EQ(spec.lora_r(), 64);
  EXPECT_EQ(Modules(spec), (std::vector<std::string>{"all-linear"}));
  EXPECT_TRUE(spec.use_rslora());
  EXPECT_EQ(spec.max_grad_norm(), 0);
  EXPECT_EQ(spec.max_restarts(), 0);
  EXPECT_TRUE(spec.has_max_bad_line_fraction());
  EXPECT_EQ(spec.max_bad_line_fraction(), 0);
  EXPECT_EQ(spec.seed(), 0);
  EXPECT_EQ(spec.sequence_len(), 512);
  EXPECT_EQ(spec.device(), v1::DEVICE_CPU);
  EXPECT_EQ(spec.datasets(0).type(), v1::DATASET_TYPE_TEXT);
  EXPECT_EQ(spec.datasets(1).type(), v1::DATASET_TYPE_AUTO);
}

TEST(JobSpecDefaultsTest, SubMessagesDefaultedOnlyWhenPresent) {
  JobSpec spec;
  spec.mutable_rehearsal()->set_path("/g");
  spec.mutable_early_stopping()->set_general_eval_dataset("/held_out");
  spec.mutable_early_stopping()->set_patience(5);
  spec.set_sequence_len(8192);
  v1::Benchmark* mmlu = spec.add_benchmarks();
  mmlu->set_suite(v1::BENCHMARK_SUITE_MMLU);
  mmlu->set_num_fewshot(5);
  spec.add_benchmarks()->set_suite(v1::BENCHMARK_SUITE_LONG_CONTEXT);
  v1::Benchmark* needle = spec.add_benchmarks();
  needle->set_suite(v1::BENCHMARK_SUITE_LONG_CONTEXT);
  needle->add_context_lengths(1024);
  ApplyJobSpecDefaults(&spec);
  EXPECT_EQ(spec.rehearsal().ratio(), 0.1);
  EXPECT_EQ(spec.early_stopping().general_ppl_max_rise(), 0.1);
  EXPECT_EQ(spec.early_stopping().patience(), 5);
  EXPECT_EQ(spec.benchmarks(0).num_fewshot(), 5);
  EXPECT_TRUE(spec.benchmarks(0).has_limit());
  EXPECT_EQ(spec.benchmarks(0).context_lengths_size(), 0);
  EXPECT_TRUE(spec.benchmarks(1).has_num_fewshot());
  ASSERT_EQ(spec.benchmarks(1).context_lengths_size(), 1);
  EXPECT_EQ(spec.benchmarks(1).context_lengths(0), 8192);  // [sequence_len].
  ASSERT_EQ(spec.benchmarks(2).context_lengths_size(), 1);
  EXPECT_EQ(spec.benchmarks(2).context_lengths(0), 1024);
}

TEST(JobSpecDefaultsTest, Idempotent) {
  JobSpec spec;
  spec.set_method(v1::METHOD_QLORA);
  spec.mutable_rehearsal()->set_path("/g");
  spec.add_benchmarks()->set_suite(v1::BENCHMARK_SUITE_LONG_CONTEXT);
  ApplyJobSpecDefaults(&spec);
  JobSpec again = spec;
  ApplyJobSpecDefaults(&again);
  EXPECT_TRUE(MessageDifferencer::Equals(spec, again)) << again.DebugString();
}

}  // namespace
}  // namespace ftd
