// FullJobSpec and UnsetFields (a reflection walk over every field, so the fixture cannot silently go stale).
#include "tests/proto/full_job_spec.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"

namespace ftd {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsNonDefaultScalar(const Message& message, const FieldDescriptor& field) {
  const Reflection& r = *message.GetReflection();
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return r.GetInt32(message, &field) != 0;
    case FieldDescriptor::CPPTYPE_INT64: return r.GetInt64(message, &field) != 0;
    case FieldDescriptor::CPPTYPE_UINT32: return r.GetUInt32(message, &field) != 0;
    case FieldDescriptor::CPPTYPE_UINT64: return r.GetUInt64(message, &field) != 0;
    case FieldDescriptor::CPPTYPE_DOUBLE: return r.GetDouble(message, &field) != 0.0;
    case FieldDescriptor::CPPTYPE_FLOAT: return r.GetFloat(message, &field) != 0.0f;
    case FieldDescriptor::CPPTYPE_BOOL: return r.GetBool(message, &field);
    case FieldDescriptor::CPPTYPE_ENUM: return r.GetEnumValue(message, &field) != 0;
    case FieldDescriptor::CPPTYPE_STRING: return !r.GetString(message, &field).empty();
    case FieldDescriptor::CPPTYPE_MESSAGE: return r.HasField(message, &field);
  }
  return false;
}

void CollectUnset(const Message& message, const std::string& prefix, std::vector<std::string>& unset) {
  const google::protobuf::Descriptor& descriptor = *message.GetDescriptor();
  const Reflection& r = *message.GetReflection();
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor& field = *descriptor.field(i);
    const std::string path = absl::StrCat(prefix, field.name());
    if (field.is_repeated()) {
      const int size = r.FieldSize(message, &field);
      if (size == 0) unset.push_back(path);
      if (field.cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
      for (int j = 0; j < size; ++j) {
        CollectUnset(r.GetRepeatedMessage(message, &field, j), absl::StrCat(path, "[", j, "]."), unset);
      }
    } else if (!IsNonDefaultScalar(message, field)) {
      unset.push_back(path);
    } else if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      CollectUnset(r.GetMessage(message, &field), absl::StrCat(path, "."), unset);
    }
  }
}

}  // namespace

v1::JobSpec FullJobSpec() {
  v1::JobSpec spec;
  spec.set_name("roundtrip-élan-🦙");
  spec.set_base_model("/models/SmolLM2-135M");
  spec.set_method(v1::METHOD_QLORA);
  spec.set_lora_r(16);
  spec.set_lora_alpha(32.125);
  spec.set_lora_dropout(0.05);
  spec.add_lora_target_modules("q_proj");
  spec.add_lora_target_modules("v_proj");
  spec.add_lora_target_modules("down_proj");
  spec.set_use_rslora(true);
  spec.set_bnb_4bit_use_double_quant(true);
  v1::Dataset* chat = spec.add_datasets();
  chat->set_path("/data/chat.jsonl");
  chat->set_type(v1::DATASET_TYPE_CHAT_TEMPLATE);
  v1::Dataset* completion = spec.add_datasets();
  completion->set_path("/data/prompt_completion.jsonl");
  completion->set_type(v1::DATASET_TYPE_PROMPT_COMPLETION);
  spec.set_val_set_size(0.015625);
  spec.mutable_rehearsal()->set_path("/data/general.jsonl");
  spec.mutable_rehearsal()->set_ratio(0.2);
  spec.set_sequence_len(4096);
  spec.set_sample_packing(true);
  spec.set_chat_template(v1::CHAT_TEMPLATE_CHATML);
  spec.set_max_bad_line_fraction(0.03125);
  spec.set_micro_batch_size(4);
  spec.set_gradient_accumulation_steps(8);
  spec.set_num_epochs(2.5);
  spec.set_max_steps(1200);
  spec.set_learning_rate(1.2345678901234567e-4);
  spec.set_lr_scheduler(v1::LR_SCHEDULER_LINEAR);
  spec.set_warmup_steps(30);
  spec.set_weight_decay(0.01);
  spec.set_max_grad_norm(0.75);
  spec.set_gradient_checkpointing(true);
  spec.set_seed(9007199254740993);  // 2^53 + 1: a double-based transport would round it.
  spec.set_eval_steps(25);
  spec.set_save_steps(75);
  spec.set_save_total_limit(3);
  v1::EarlyStopping* early = spec.mutable_early_stopping();
  early->set_general_eval_dataset("/data/wikitext_heldout.jsonl");
  early->set_general_ppl_max_rise(0.15);
  early->set_patience(3);
  v1::Benchmark* mmlu = spec.add_benchmarks();
  mmlu->set_suite(v1::BENCHMARK_SUITE_MMLU);
  mmlu->set_path("/bench/mmlu");
  mmlu->set_num_fewshot(5);
  mmlu->set_limit(200);
  mmlu->add_context_lengths(2048);
  v1::Benchmark* needle = spec.add_benchmarks();
  needle->set_suite(v1::BENCHMARK_SUITE_LONG_CONTEXT);
  needle->set_path("/bench/needle.jsonl");
  needle->set_num_fewshot(1);
  needle->set_limit(50);
  needle->add_context_lengths(4096);
  needle->add_context_lengths(8192);
  spec.set_world_size(4);
  spec.set_device(v1::DEVICE_CPU);
  spec.set_max_restarts(5);
  spec.set_priority(-7);
  return spec;
}

std::vector<std::string> UnsetFields(const google::protobuf::Message& message) {
  std::vector<std::string> unset;
  CollectUnset(message, "", unset);
  return unset;
}

}  // namespace ftd
