// ParseJobSpecYaml / LoadJobSpecFile / JobSpecToYaml: a minimal spec gets every default, a full spec keeps every
// value, specs round-trip, and each kind of bad spec gets its own exact `key.path: reason` message.
#include "common/job_spec_yaml.h"

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace ftd {
namespace {

using ::ftd::v1::JobSpec;
using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;
using ::google::protobuf::util::MessageDifferencer;

std::string Testdata(absl::string_view name) { return absl::StrCat(FTD_JOB_SPEC_TESTDATA_DIR, "/", name); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A valid start that the cases below extend with one mistake each.
constexpr absl::string_view kBase = "base_model: /models/m\ndatasets:\n  - path: /data/d.jsonl\n";

// YAML -> JobSpec -> YAML -> JobSpec gives the same JobSpec, and the YAML text is stable after one pass.
void ExpectRoundTrip(const JobSpec& spec) {
  const std::string yaml = JobSpecToYaml(spec);
  absl::StatusOr<JobSpec> again = DecodeJobSpecYaml(yaml);
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << yaml;
  EXPECT_TRUE(MessageDifferencer::Equals(spec, *again)) << "before:\n"
                                                        << spec.DebugString() << "after:\n"
                                                        << again->DebugString() << "yaml:\n"
                                                        << yaml;
  EXPECT_EQ(JobSpecToYaml(*again), yaml);
}

TEST(JobSpecYamlTest, MinimalSpecGetsEveryDefault) {
  absl::StatusOr<JobSpec> spec = LoadJobSpecFile(Testdata("minimal.yaml"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "");
  EXPECT_EQ(spec->base_model(), "/models/SmolLM2-135M-Instruct");
  EXPECT_EQ(spec->method(), v1::METHOD_LORA);
  EXPECT_EQ(spec->lora_r(), 8);
  EXPECT_EQ(spec->lora_alpha(), 8);
  EXPECT_TRUE(spec->has_lora_dropout());
  EXPECT_EQ(spec->lora_dropout(), 0);
  EXPECT_EQ(std::vector<std::string>(spec->lora_target_modules().begin(), spec->lora_target_modules().end()),
            (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_TRUE(spec->has_use_rslora());
  EXPECT_FALSE(spec->use_rslora());
  EXPECT_FALSE(spec->has_bnb_4bit_use_double_quant());  // qlora only.
  ASSERT_EQ(spec->datasets_size(), 1);
  EXPECT_EQ(spec->datasets(0).path(), "/data/train.jsonl");
  EXPECT_EQ(spec->datasets(0).type(), v1::DATASET_TYPE_AUTO);
  EXPECT_TRUE(spec->has_val_set_size());
  EXPECT_EQ(spec->val_set_size(), 0);
  EXPECT_FALSE(spec->has_rehearsal());
  EXPECT_EQ(spec->sequence_len(), 2048);
  EXPECT_TRUE(spec->has_sample_packing());
  EXPECT_FALSE(spec->sample_packing());
  EXPECT_EQ(spec->chat_template(), v1::CHAT_TEMPLATE_UNSPECIFIED);
  EXPECT_TRUE(spec->has_max_bad_line_fraction());
  EXPECT_EQ(spec->max_bad_line_fraction(), 0.01);
  EXPECT_EQ(spec->micro_batch_size(), 1);
  EXPECT_EQ(spec->gradient_accumulation_steps(), 1);
  EXPECT_EQ(spec->num_epochs(), 1);
  EXPECT_TRUE(spec->has_max_steps());
  EXPECT_EQ(spec->max_steps(), 0);
  EXPECT_EQ(spec->learning_rate(), 2e-4);
  EXPECT_EQ(spec->lr_scheduler(), v1::LR_SCHEDULER_COSINE);
  EXPECT_TRUE(spec->has_warmup_steps());
  EXPECT_EQ(spec->warmup_steps(), 0);
  EXPECT_TRUE(spec->has_weight_decay());
  EXPECT_EQ(spec->weight_decay(), 0);
  EXPECT_EQ(spec->max_grad_norm(), 1.0);
  EXPECT_TRUE(spec->has_gradient_checkpointing());
  EXPECT_FALSE(spec->gradient_checkpointing());
  EXPECT_EQ(spec->seed(), 42);
  EXPECT_EQ(spec->eval_steps(), 50);
  EXPECT_EQ(spec->save_steps(), 100);
  EXPECT_EQ(spec->save_total_limit(), 2);
  EXPECT_FALSE(spec->has_early_stopping());
  EXPECT_EQ(spec->benchmarks_size(), 0);
  EXPECT_EQ(spec->world_size(), 1);
  EXPECT_EQ(spec->device(), v1::DEVICE_CUDA);
  EXPECT_EQ(spec->max_restarts(), 3);
  EXPECT_TRUE(spec->has_priority());
  EXPECT_EQ(spec->priority(), 0);
  ExpectRoundTrip(*spec);
}

TEST(JobSpecYamlTest, FullSpecKeepsEveryValue) {
  absl::StatusOr<JobSpec> spec = LoadJobSpecFile(Testdata("full.yaml"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "smollm2-support-bot");
  EXPECT_EQ(spec->base_model(), "/models/SmolLM2-135M-Instruct");
  EXPECT_EQ(spec->method(), v1::METHOD_QLORA);
  EXPECT_EQ(spec->lora_r(), 16);
  EXPECT_EQ(spec->lora_alpha(), 32);
  EXPECT_EQ(spec->lora_dropout(), 0.05);
  EXPECT_EQ(spec->lora_target_modules_size(), 7);
  EXPECT_EQ(spec->lora_target_modules(6), "down_proj");
  EXPECT_TRUE(spec->use_rslora());
  EXPECT_TRUE(spec->has_bnb_4bit_use_double_quant());
  EXPECT_FALSE(spec->bnb_4bit_use_double_quant());
  ASSERT_EQ(spec->datasets_size(), 2);
  EXPECT_EQ(spec->datasets(0).path(), "/data/support_chats.jsonl");
  EXPECT_EQ(spec->datasets(0).type(), v1::DATASET_TYPE_CHAT_TEMPLATE);
  EXPECT_EQ(spec->datasets(1).type(), v1::DATASET_TYPE_PROMPT_COMPLETION);  // Written prompt-completion.
  EXPECT_EQ(spec->val_set_size(), 0.05);
  EXPECT_EQ(spec->rehearsal().path(), "/data/general/fineweb_sample.jsonl");
  EXPECT_EQ(spec->rehearsal().ratio(), 0.2);
  EXPECT_EQ(spec->sequence_len(), 4096);
  EXPECT_TRUE(spec->sample_packing());
  EXPECT_EQ(spec->chat_template(), v1::CHAT_TEMPLATE_CHATML);
  EXPECT_EQ(spec->max_bad_line_fraction(), 0.05);
  EXPECT_EQ(spec->micro_batch_size(), 4);
  EXPECT_EQ(spec->gradient_accumulation_steps(), 8);
  EXPECT_EQ(spec->num_epochs(), 2.5);
  EXPECT_EQ(spec->max_steps(), 1000);
  EXPECT_EQ(spec->learning_rate(), 1e-4);
  EXPECT_EQ(spec->lr_scheduler(), v1::LR_SCHEDULER_LINEAR);
  EXPECT_EQ(spec->warmup_steps(), 30);
  EXPECT_EQ(spec->weight_decay(), 0.01);
  EXPECT_EQ(spec->max_grad_norm(), 0.5);
  EXPECT_TRUE(spec->gradient_checkpointing());
  EXPECT_EQ(spec->seed(), 1234);
  EXPECT_EQ(spec->eval_steps(), 25);
  EXPECT_EQ(spec->save_steps(), 200);
  EXPECT_EQ(spec->save_total_limit(), 5);
  EXPECT_EQ(spec->early_stopping().general_eval_dataset(), "/data/general/wikitext_val.jsonl");
  EXPECT_EQ(spec->early_stopping().general_ppl_max_rise(), 0.05);
  EXPECT_EQ(spec->early_stopping().patience(), 3);
  ASSERT_EQ(spec->benchmarks_size(), 3);
  EXPECT_EQ(spec->benchmarks(0).suite(), v1::BENCHMARK_SUITE_MMLU);
  EXPECT_EQ(spec->benchmarks(0).path(), "/data/mmlu");
  EXPECT_EQ(spec->benchmarks(0).num_fewshot(), 5);
  EXPECT_EQ(spec->benchmarks(0).limit(), 500);
  EXPECT_EQ(spec->benchmarks(0).context_lengths_size(), 0);  // The [sequence_len] default is long_context's.
  EXPECT_EQ(spec->benchmarks(1).suite(), v1::BENCHMARK_SUITE_LONG_CONTEXT);
  EXPECT_EQ(spec->benchmarks(1).path(), "");
  ASSERT_EQ(spec->benchmarks(1).context_lengths_size(), 2);
  EXPECT_EQ(spec->benchmarks(1).context_lengths(1), 4096);
  EXPECT_EQ(spec->benchmarks(2).suite(), v1::BENCHMARK_SUITE_PERPLEXITY);
  EXPECT_EQ(spec->world_size(), 4);
  EXPECT_EQ(spec->device(), v1::DEVICE_CPU);
  EXPECT_EQ(spec->max_restarts(), 1);
  EXPECT_EQ(spec->priority(), 10);
  ExpectRoundTrip(*spec);
}

// Collects the proto fields that no instance in `message` (or its sub-messages) sets.
void CollectMissingFields(const Message& message, const std::string& prefix, std::set<std::string>* missing) {
  const Descriptor* type = message.GetDescriptor();
  const Reflection* reflection = message.GetReflection();
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    const std::string name = absl::StrCat(prefix, field->name());
    const bool present =
        field->is_repeated() ? reflection->FieldSize(message, field) > 0 : reflection->HasField(message, field);
    if (!present) missing->insert(name);
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (!field->is_repeated()) {
      if (present) CollectMissingFields(reflection->GetMessage(message, field), name + ".", missing);
      continue;
    }
    // A field of a repeated message counts as covered when any element sets it.
    std::set<std::string> missing_everywhere;
    for (int j = 0; j < reflection->FieldSize(message, field); ++j) {
      std::set<std::string> missing_here;
      CollectMissingFields(reflection->GetRepeatedMessage(message, field, j), name + ".", &missing_here);
      if (j == 0) {
        missing_everywhere = missing_here;
      } else {
        std::set<std::string> both;
        for (const std::string& m : missing_everywhere) {
          if (missing_here.count(m)) both.insert(m);
        }
        missing_everywhere = both;
      }
    }
    missing->insert(missing_everywhere.begin(), missing_everywhere.end());
  }
}

TEST(JobSpecYamlTest, FullSpecFileSetsEveryProtoField) {
  // Decoded without defaults, so a field counts only if full.yaml writes it. A new JobSpec field must be added
  // to testdata/full.yaml (and to the checks above) to keep this test passing.
  absl::StatusOr<JobSpec> spec = DecodeJobSpecYaml(ReadFile(Testdata("full.yaml")));
  ASSERT_TRUE(spec.ok()) << spec.status();
  std::set<std::string> missing;
  CollectMissingFields(*spec, "", &missing);
  EXPECT_TRUE(missing.empty()) << "full.yaml does not set: " << testing::PrintToString(missing);
}

TEST(JobSpecYamlTest, DecodeLeavesAbsentFieldsAbsent) {
  absl::StatusOr<JobSpec> spec = DecodeJobSpecYaml(kBase);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->method(), v1::METHOD_UNSPECIFIED);
  EXPECT_FALSE(spec->has_lora_r());
  EXPECT_FALSE(spec->has_learning_rate());
  EXPECT_EQ(spec->datasets(0).type(), v1::DATASET_TYPE_UNSPECIFIED);
  EXPECT_EQ(JobSpecToYaml(*spec), "base_model: /models/m\ndatasets:\n  - path: /data/d.jsonl\n");
}

TEST(JobSpecYamlTest, EnumSpellings) {
  absl::StatusOr<JobSpec> spec = ParseJobSpecYaml(absl::StrCat(
      "base_model: /m\nmethod: full\nlr_scheduler: constant\ndevice: cpu\nchat_template: llama3\n",
      "datasets:\n  - {path: /a, type: chat-template}\n  - {path: /b, type: TEXT}\n",
      "benchmarks:\n  - {suite: long-context}\n  - {suite: hellaswag, path: /h}\n  - {suite: task, path: /t}\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->method(), v1::METHOD_FULL);
  EXPECT_EQ(spec->lr_scheduler(), v1::LR_SCHEDULER_CONSTANT);
  EXPECT_EQ(spec->device(), v1::DEVICE_CPU);
  EXPECT_EQ(spec->chat_template(), v1::CHAT_TEMPLATE_LLAMA3);
  EXPECT_EQ(spec->datasets(0).type(), v1::DATASET_TYPE_CHAT_TEMPLATE);
  EXPECT_EQ(spec->datasets(1).type(), v1::DATASET_TYPE_TEXT);
  EXPECT_EQ(spec->benchmarks(0).suite(), v1::BENCHMARK_SUITE_LONG_CONTEXT);
  EXPECT_EQ(spec->benchmarks(1).suite(), v1::BENCHMARK_SUITE_HELLASWAG);
  EXPECT_EQ(spec->benchmarks(2).suite(), v1::BENCHMARK_SUITE_TASK);
  // Full fine-tuning carries no adapter settings, and long_context measures at sequence_len by default.
  EXPECT_FALSE(spec->has_lora_r());
  EXPECT_EQ(spec->lora_target_modules_size(), 0);
  ASSERT_EQ(spec->benchmarks(0).context_lengths_size(), 1);
  EXPECT_EQ(spec->benchmarks(0).context_lengths(0), 2048);
  ExpectRoundTrip(*spec);
}

TEST(JobSpecYamlTest, AllLinearAsStringOrList) {
  for (absl::string_view modules : {"all-linear", "[all-linear]"}) {
    absl::StatusOr<JobSpec> spec = ParseJobSpecYaml(absl::StrCat(kBase, "lora_target_modules: ", modules, "\n"));
    ASSERT_TRUE(spec.ok()) << spec.status();
    ASSERT_EQ(spec->lora_target_modules_size(), 1);
    EXPECT_EQ(spec->lora_target_modules(0), "all-linear");
    EXPECT_NE(JobSpecToYaml(*spec).find("\nlora_target_modules: all-linear\n"), std::string::npos);
    ExpectRoundTrip(*spec);
  }
}

TEST(JobSpecYamlTest, NumbersInEveryYamlForm) {
  absl::StatusOr<JobSpec> spec = ParseJobSpecYaml(absl::StrCat(
      kBase, "learning_rate: 2e-4\nnum_epochs: 3\nlora_alpha: 16.\nweight_decay: .5\nmax_grad_norm: +1.5E+1\n",
      "seed: -7\nmax_steps: +9223372036854775807\nsequence_len: 2147483647\npriority: -100\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->learning_rate(), 2e-4);
  EXPECT_EQ(spec->num_epochs(), 3.0);
  EXPECT_EQ(spec->lora_alpha(), 16.0);
  EXPECT_EQ(spec->weight_decay(), 0.5);
  EXPECT_EQ(spec->max_grad_norm(), 15.0);
  EXPECT_EQ(spec->seed(), -7);
  EXPECT_EQ(spec->max_steps(), 9223372036854775807);
  EXPECT_EQ(spec->sequence_len(), 2147483647);
  EXPECT_EQ(spec->priority(), -100);
  const std::string yaml = JobSpecToYaml(*spec);
  EXPECT_NE(yaml.find("\nlearning_rate: 2e-4\n"), std::string::npos) << yaml;  // As users write it.
  EXPECT_NE(yaml.find("\nnum_epochs: 3.0\n"), std::string::npos) << yaml;
  ExpectRoundTrip(*spec);
}

TEST(JobSpecYamlTest, StringsThatLookLikeOtherThingsRoundTrip) {
  JobSpec spec;
  spec.set_base_model("/m");
  spec.add_datasets()->set_path("/d");
  for (const char* name : {"2024",        "true",       "null",
                           "~",           "yes",        "1e5",
                           ".nan",        "a: b",       "#tag",
                           " padded ",    "two\nlines", "trailing newline\n",
                           "tab\there",   "bell\x07",   "quote \" and 'single'",
                           "- dash",      "[x]",        "key:",
                           "& anchor",    "* alias",    "! tag",
                           "héllo wörld", "日本語"}) {
    spec.set_name(name);
    SCOPED_TRACE(name);
    ExpectRoundTrip(spec);
  }
  // A plain scalar in a string field is its text, whatever YAML would otherwise make of it.
  absl::StatusOr<JobSpec> parsed = ParseJobSpecYaml(absl::StrCat(kBase, "name: 2024\n"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->name(), "2024");
}

TEST(JobSpecYamlTest, FileErrorsNameThePath) {
  const std::string missing = absl::StrCat(testing::TempDir(), "/no_such_job_spec.yaml");
  absl::StatusOr<JobSpec> spec = LoadJobSpecFile(missing);
  EXPECT_EQ(spec.status(), absl::NotFoundError(absl::StrCat(missing, ": No such file or directory")));

  spec = LoadJobSpecFile(testing::TempDir());
  EXPECT_EQ(spec.status(), absl::FailedPreconditionError(absl::StrCat(testing::TempDir(), ": Is a directory")));

  const std::string bad = absl::StrCat(testing::TempDir(), "/bad_job_spec.yaml");
  {
    std::ofstream out(bad);
    out << kBase << "lora_r: -1\n";
  }
  spec = LoadJobSpecFile(bad);
  EXPECT_EQ(spec.status(), absl::InvalidArgumentError(absl::StrCat(bad, ": lora_r: must be > 0, got -1")));
  std::remove(bad.c_str());
}

struct BadSpec {
  const char* name;     // gtest case name.
  std::string yaml;     // The whole document.
  std::string message;  // The exact InvalidArgument message.
};

std::string WithBase(absl::string_view extra) { return absl::StrCat(kBase, extra); }

std::vector<BadSpec> BadSpecs() {
  return {
      // Syntax and document shape.
      {"SyntaxError", "base_model: /m\ndatasets: [ {path: a}\n",
       "yaml syntax error at line 3, column 1: end of sequence flow not found"},
      {"SyntaxErrorBadIndent", "base_model: /m\n  lora_r: 8\n",
       "yaml syntax error at line 2, column 9: illegal map value"},
      {"EmptyDocument", "", "job spec: empty document"},
      {"OnlyComments", "# nothing here\n", "job spec: empty document"},
      {"TopLevelSequence", "- base_model: /m\n", "job spec: expected a map of keys at the top level, got a sequence"},
      {"TopLevelScalar", "hello\n", "job spec: expected a map of keys at the top level, got \"hello\""},
      {"TwoDocuments", WithBase("---\nlora_r: 8\n"), "job spec: expected one YAML document, got 2"},
      // Keys.
      {"UnknownKeyWithSuggestion", WithBase("lorra_r: 8\n"), "lorra_r: unknown key (did you mean lora_r?)"},
      {"HyphenatedKey", WithBase("learning-rate: 1e-4\n"), "learning-rate: unknown key (did you mean learning_rate?)"},
      {"UnknownKeyNoSuggestion", WithBase("frobnicate: 1\n"), "frobnicate: unknown key"},
      {"UnknownNestedKey", WithBase("rehearsal:\n  path: /g.txt\n  ratoi: 0.2\n"),
       "rehearsal.ratoi: unknown key (did you mean ratio?)"},
      {"UnknownKeyInListItem", "base_model: /m\ndatasets:\n  - path: /a\n  - path: /b\n    typ: text\n",
       "datasets[1].typ: unknown key (did you mean type?)"},
      {"DuplicateKey", WithBase("lora_r: 8\nlora_r: 16\n"), "lora_r: duplicate key"},
      // Types.
      {"IntGivenFloat", WithBase("lora_r: 1.5\n"), "lora_r: expected an integer, got 1.5"},
      {"IntGivenQuotedInt", WithBase("lora_r: \"8\"\n"), "lora_r: expected an integer, got \"8\""},
      {"IntGivenHex", WithBase("seed: 0x10\n"), "seed: expected an integer, got \"0x10\""},
      {"NestedIntGivenWord", WithBase("early_stopping:\n  general_eval_dataset: /g\n  patience: two\n"),
       "early_stopping.patience: expected an integer, got \"two\""},
      {"IntGivenNull", WithBase("lora_r:\n"), "lora_r: expected an integer, got null"},
      {"DoubleGivenWord", WithBase("learning_rate: fast\n"), "learning_rate: expected a number, got \"fast\""},
      {"BoolGivenYes", WithBase("sample_packing: yes\n"), "sample_packing: expected true or false, got \"yes\""},
      {"BoolGivenOne", WithBase("use_rslora: 1\n"), "use_rslora: expected true or false, got 1"},
      {"EnumUnknownValue", WithBase("method: qlora4\n"),
       "method: unknown value \"qlora4\" (expected one of lora, qlora, full)"},
      {"EnumUnspecifiedByName", WithBase("device: unspecified\n"),
       "device: unknown value \"unspecified\" (expected one of cuda, cpu)"},
      {"EnumGivenList", WithBase("device: [cpu]\n"), "device: expected one of cuda, cpu, got a sequence"},
      {"NestedEnumUnknown", WithBase("benchmarks:\n  - suite: arc\n    path: /x\n"),
       "benchmarks[0].suite: unknown value \"arc\" (expected one of perplexity, mmlu, hellaswag, long_context, "
       "task, piqa)"},
      {"ListGivenMap", "base_model: /m\ndatasets: {path: /d}\n", "datasets: expected a sequence, got a map"},
      {"ListItemGivenScalar", "base_model: /m\ndatasets:\n  - /d.jsonl\n",
       "datasets[0]: expected a map, got \"/d.jsonl\""},
      {"MapGivenScalar", WithBase("early_stopping: true\n"), "early_stopping: expected a map, got true"},
      {"StringGivenMap", WithBase("name: {a: 1}\n"), "name: expected a string, got a map"},
      {"TargetModulesGivenOtherString", WithBase("lora_target_modules: q_proj\n"),
       "lora_target_modules: expected a sequence of module names or all-linear, got \"q_proj\""},
      {"ListElementWrongType", WithBase("benchmarks:\n  - suite: long_context\n    context_lengths: [1024, big]\n"),
       "benchmarks[0].context_lengths[1]: expected an integer, got \"big\""},
      // Number ranges the proto cannot hold.
      {"Int32Overflow", WithBase("sequence_len: 3000000000\n"),
       "sequence_len: out of range for a 32-bit integer, got 3000000000"},
      {"Int64Overflow", WithBase("max_steps: 99999999999999999999\n"),
       "max_steps: out of range for a 64-bit integer, got 99999999999999999999"},
      {"DoubleOverflow", WithBase("learning_rate: 1e999\n"), "learning_rate: out of range for a double, got 1e999"},
      // Validation ranges.
      {"NegativeRank", WithBase("lora_r: -1\n"), "lora_r: must be > 0, got -1"},
      {"NaN", WithBase("learning_rate: .nan\n"), "learning_rate: must be finite, got nan"},
      {"Infinity", WithBase("weight_decay: .inf\n"), "weight_decay: must be finite, got inf"},
      {"DropoutOne", WithBase("lora_dropout: 1.0\n"), "lora_dropout: must be in [0, 1), got 1"},
      {"WorldSizeTooLarge", WithBase("world_size: 2000\n"), "world_size: must be in [1, 1024], got 2000"},
      {"PatienceZero", WithBase("early_stopping:\n  general_eval_dataset: /g\n  patience: 0\n"),
       "early_stopping.patience: must be >= 1, got 0"},
      {"NameTooLong", WithBase(absl::StrCat("name: ", std::string(129, 'x'), "\n")),
       "name: must be at most 128 characters, got 129"},
      // Required fields.
      {"MissingBaseModel", "datasets:\n  - path: /d\n", "base_model: required"},
      {"MissingDatasets", "base_model: /m\n", "datasets: at least one dataset is required"},
      {"MissingDatasetPath", "base_model: /m\ndatasets:\n  - path: /a.jsonl\n  - type: text\n",
       "datasets[1].path: required"},
      {"MissingRehearsalPath", WithBase("rehearsal:\n  ratio: 0.2\n"), "rehearsal.path: required"},
      {"MissingGeneralEvalDataset", WithBase("early_stopping:\n  patience: 3\n"),
       "early_stopping.general_eval_dataset: required"},
      {"MissingBenchmarkSuite", WithBase("benchmarks:\n  - path: /x\n"), "benchmarks[0].suite: required"},
      {"MissingBenchmarkPath", WithBase("benchmarks:\n  - suite: long_context\n  - suite: mmlu\n"),
       "benchmarks[1].path: required"},
      // Cross-field rules.
      {"LoraFieldWithFull", WithBase("method: full\nlora_r: 16\n"),
       "lora_r: only applies to method lora or qlora, got method full"},
      {"RsloraWithFull", WithBase("method: full\nuse_rslora: false\n"),
       "use_rslora: only applies to method lora or qlora, got method full"},
      {"DoubleQuantWithoutQlora", WithBase("bnb_4bit_use_double_quant: true\n"),
       "bnb_4bit_use_double_quant: only applies to method qlora, got method lora"},
      {"UnknownTargetModule", WithBase("lora_target_modules: [q_proj, qkv_proj]\n"),
       "lora_target_modules[1]: unknown module \"qkv_proj\" (expected q_proj, k_proj, v_proj, o_proj, gate_proj, "
       "up_proj, down_proj, or the single entry all-linear)"},
      {"AllLinearCombined", WithBase("lora_target_modules: [all-linear, q_proj]\n"),
       "lora_target_modules[0]: all-linear must be the only entry"},
      {"DuplicateTargetModule", WithBase("lora_target_modules: [q_proj, v_proj, q_proj]\n"),
       "lora_target_modules[2]: duplicate module q_proj"},
      {"ChatDatasetWithoutTemplate", "base_model: /m\ndatasets:\n  - path: /a\n  - path: /c\n    type: chat_template\n",
       "chat_template: required because datasets[1] has type chat_template"},
      {"WarmupPastMaxSteps", WithBase("max_steps: 100\nwarmup_steps: 200\n"),
       "warmup_steps: must be <= max_steps (100), got 200"},
      {"ZeroContextLength", WithBase("benchmarks:\n  - suite: long_context\n    context_lengths: [4096, 0]\n"),
       "benchmarks[0].context_lengths[1]: must be > 0, got 0"},
      // One message: the first error in document order while decoding.
      {"FirstDecodeErrorWins", WithBase("seed: abc\nfrobnicate: 1\n"), "seed: expected an integer, got \"abc\""},
      {"FirstDecodeErrorWinsReversed", WithBase("frobnicate: 1\nseed: abc\n"), "frobnicate: unknown key"},
  };
}

class BadJobSpecTest : public testing::TestWithParam<BadSpec> {};

TEST_P(BadJobSpecTest, RejectedWithExactMessage) {
  absl::StatusOr<JobSpec> spec = ParseJobSpecYaml(GetParam().yaml);
  EXPECT_EQ(spec.status(), absl::InvalidArgumentError(GetParam().message)) << "yaml:\n" << GetParam().yaml;
}

INSTANTIATE_TEST_SUITE_P(Cases, BadJobSpecTest, testing::ValuesIn(BadSpecs()),
                         [](const testing::TestParamInfo<BadSpec>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace ftd
