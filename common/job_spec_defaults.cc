// The JobSpec defaults, written out field by field beside the proto comments they come from (PEFT's LoraConfig
// and Axolotl's values where the proto says so), so a reviewer can check one against the other.
#include "common/job_spec_defaults.h"

#include "common/logging.h"

namespace ftd {
namespace {

using ::ftd::v1::Benchmark;
using ::ftd::v1::JobSpec;

void ApplyBenchmarkDefaults(int32_t sequence_len, Benchmark* benchmark) {
  if (!benchmark->has_num_fewshot()) benchmark->set_num_fewshot(0);
  if (!benchmark->has_limit()) benchmark->set_limit(0);  // 0 means every item.
  if (benchmark->suite() == ftd::v1::BENCHMARK_SUITE_LONG_CONTEXT && benchmark->context_lengths().empty()) {
    benchmark->add_context_lengths(sequence_len);
  }
}

}  // namespace

void ApplyJobSpecDefaults(JobSpec* spec) {
  FTD_CHECK(spec != nullptr);

  // Model and method.
  if (spec->method() == ftd::v1::METHOD_UNSPECIFIED) spec->set_method(ftd::v1::METHOD_LORA);
  const bool adapters = spec->method() == ftd::v1::METHOD_LORA || spec->method() == ftd::v1::METHOD_QLORA;
  if (adapters) {
    if (!spec->has_lora_r()) spec->set_lora_r(8);
    if (!spec->has_lora_alpha()) spec->set_lora_alpha(8);
    if (!spec->has_lora_dropout()) spec->set_lora_dropout(0);
    if (spec->lora_target_modules().empty()) {
      spec->add_lora_target_modules("q_proj");
      spec->add_lora_target_modules("v_proj");
    }
    if (!spec->has_use_rslora()) spec->set_use_rslora(false);
  }
  if (spec->method() == ftd::v1::METHOD_QLORA && !spec->has_bnb_4bit_use_double_quant()) {
    spec->set_bnb_4bit_use_double_quant(true);
  }

  // Data.
  for (ftd::v1::Dataset& dataset : *spec->mutable_datasets()) {
    if (dataset.type() == ftd::v1::DATASET_TYPE_UNSPECIFIED) dataset.set_type(ftd::v1::DATASET_TYPE_AUTO);
  }
  if (!spec->has_val_set_size()) spec->set_val_set_size(0);
  if (spec->has_rehearsal() && !spec->rehearsal().has_ratio()) spec->mutable_rehearsal()->set_ratio(0.1);
  if (!spec->has_sequence_len()) spec->set_sequence_len(2048);
  if (!spec->has_sample_packing()) spec->set_sample_packing(false);
  if (!spec->has_gradient_checkpointing()) spec->set_gradient_checkpointing(false);
  if (!spec->has_max_bad_line_fraction()) spec->set_max_bad_line_fraction(0.01);

  // Optimisation.
  if (!spec->has_micro_batch_size()) spec->set_micro_batch_size(1);
  if (!spec->has_gradient_accumulation_steps()) spec->set_gradient_accumulation_steps(1);
  if (!spec->has_num_epochs()) spec->set_num_epochs(1);
  if (!spec->has_max_steps()) spec->set_max_steps(0);
  if (!spec->has_learning_rate()) spec->set_learning_rate(2e-4);
  if (spec->lr_scheduler() == ftd::v1::LR_SCHEDULER_UNSPECIFIED) spec->set_lr_scheduler(ftd::v1::LR_SCHEDULER_COSINE);
  if (!spec->has_warmup_steps()) spec->set_warmup_steps(0);
  if (!spec->has_weight_decay()) spec->set_weight_decay(0);
  if (!spec->has_max_grad_norm()) spec->set_max_grad_norm(1.0);
  if (!spec->has_seed()) spec->set_seed(42);

  // Evaluation, checkpoints, guardrail.
  if (!spec->has_eval_steps()) spec->set_eval_steps(50);
  if (!spec->has_save_steps()) spec->set_save_steps(100);
  if (!spec->has_save_total_limit()) spec->set_save_total_limit(2);
  if (spec->has_early_stopping()) {
    ftd::v1::EarlyStopping* early_stopping = spec->mutable_early_stopping();
    if (!early_stopping->has_general_ppl_max_rise()) early_stopping->set_general_ppl_max_rise(0.1);
    if (!early_stopping->has_patience()) early_stopping->set_patience(2);
  }
  for (Benchmark& benchmark : *spec->mutable_benchmarks()) ApplyBenchmarkDefaults(spec->sequence_len(), &benchmark);

  // Placement.
  if (!spec->has_world_size()) spec->set_world_size(1);
  if (spec->device() == ftd::v1::DEVICE_UNSPECIFIED) spec->set_device(ftd::v1::DEVICE_CUDA);
  if (!spec->has_max_restarts()) spec->set_max_restarts(3);
  if (!spec->has_priority()) spec->set_priority(0);
}

}  // namespace ftd
