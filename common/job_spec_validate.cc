// ValidateJobSpec: one check per rule, in proto field order, each returning the first broken rule as
// `key.path: reason`. Kept apart from the YAML loader because the coordinator runs it on every submitted spec.
#include "common/job_spec_validate.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"

namespace ftd {
namespace {

using ::ftd::v1::JobSpec;

constexpr int kMaxNameChars = 128;
constexpr absl::string_view kAllLinear = "all-linear";
// The Llama-family linear layers an adapter can attach to (HF module names).
constexpr absl::string_view kTargetModules[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                "gate_proj", "up_proj", "down_proj"};

absl::Status Error(absl::string_view path, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", reason));
}

// Shortest exact form (1.5, 0.0002, 1e+100) and nan/inf as a gRPC client would print them.
std::string FormatNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return ec == std::errc() ? std::string(buffer, end) : absl::StrCat(value);
}

// Integer bounds, worded as the proto comments word them ("> 0", ">= 1", "1..1024").
absl::Status CheckPositive(absl::string_view path, int64_t value) {
  if (value > 0) return absl::OkStatus();
  return Error(path, absl::StrCat("must be > 0, got ", value));
}

absl::Status CheckAtLeast(absl::string_view path, int64_t value, int64_t lo) {
  if (value >= lo) return absl::OkStatus();
  return Error(path, absl::StrCat("must be >= ", lo, ", got ", value));
}

// `hi` is inclusive.
absl::Status CheckInRange(absl::string_view path, int64_t value, int64_t lo, int64_t hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return Error(path, absl::StrCat("must be in [", lo, ", ", hi, "], got ", value));
}

// Every double must be finite first: NaN passes no comparison honestly and inf is never a setting.
enum class DoubleRule { kPositive, kNonNegative, kUnitInterval, kClosedUnitInterval };

absl::Status CheckDouble(absl::string_view path, double value, DoubleRule rule) {
  if (!std::isfinite(value)) return Error(path, absl::StrCat("must be finite, got ", FormatNumber(value)));
  switch (rule) {
    case DoubleRule::kPositive:
      if (value > 0) return absl::OkStatus();
      return Error(path, absl::StrCat("must be > 0, got ", FormatNumber(value)));
    case DoubleRule::kNonNegative:
      if (value >= 0) return absl::OkStatus();
      return Error(path, absl::StrCat("must be >= 0, got ", FormatNumber(value)));
    case DoubleRule::kUnitInterval:
      if (value >= 0 && value < 1) return absl::OkStatus();
      return Error(path, absl::StrCat("must be in [0, 1), got ", FormatNumber(value)));
    case DoubleRule::kClosedUnitInterval:
      if (value >= 0 && value <= 1) return absl::OkStatus();
      return Error(path, absl::StrCat("must be in [0, 1], got ", FormatNumber(value)));
  }
  return absl::OkStatus();
}

// Proto3 enums are open: a client may send a number the schema does not name.
template <typename Enum>
absl::Status CheckKnownEnum(absl::string_view path, Enum value, const google::protobuf::EnumDescriptor* type) {
  if (type->FindValueByNumber(static_cast<int>(value)) != nullptr) return absl::OkStatus();
  return Error(path, absl::StrCat("unknown value ", static_cast<int>(value)));
}

size_t Utf8Length(absl::string_view text) {
  size_t chars = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++chars;  // Count every byte but continuation bytes.
  }
  return chars;
}

absl::string_view MethodName(ftd::v1::Method method) {
  switch (method) {
    case ftd::v1::METHOD_QLORA:
      return "qlora";
    case ftd::v1::METHOD_FULL:
      return "full";
    default:
      return "lora";  // UNSPECIFIED means lora, the default.
  }
}

absl::Status CheckTargetModules(const JobSpec& spec) {
  std::set<std::string> seen;
  for (int i = 0; i < spec.lora_target_modules_size(); ++i) {
    const std::string& name = spec.lora_target_modules(i);
    const std::string path = absl::StrCat("lora_target_modules[", i, "]");
    if (name == kAllLinear) {
      if (spec.lora_target_modules_size() > 1) return Error(path, "all-linear must be the only entry");
      continue;
    }
    bool known = false;
    for (absl::string_view module : kTargetModules) known = known || name == module;
    if (!known) {
      return Error(path, absl::StrCat("unknown module \"", name, "\" (expected ", absl::StrJoin(kTargetModules, ", "),
                                      ", or the single entry all-linear)"));
    }
    if (!seen.insert(name).second) return Error(path, absl::StrCat("duplicate module ", name));
  }
  return absl::OkStatus();
}

// The adapter fields: only meaningful for lora/qlora, so setting one for a full fine-tune is a mistake to report.
absl::Status CheckAdapter(const JobSpec& spec) {
  const ftd::v1::Method method = spec.method();
  if (method == ftd::v1::METHOD_FULL) {
    auto misplaced = [](absl::string_view key) {
      return Error(key, "only applies to method lora or qlora, got method full");
    };
    if (spec.has_lora_r()) return misplaced("lora_r");
    if (spec.has_lora_alpha()) return misplaced("lora_alpha");
    if (spec.has_lora_dropout()) return misplaced("lora_dropout");
    if (spec.lora_target_modules_size() > 0) return misplaced("lora_target_modules");
    if (spec.has_use_rslora()) return misplaced("use_rslora");
  }
  if (spec.has_lora_r()) RETURN_IF_ERROR(CheckPositive("lora_r", spec.lora_r()));
  if (spec.has_lora_alpha()) RETURN_IF_ERROR(CheckDouble("lora_alpha", spec.lora_alpha(), DoubleRule::kPositive));
  if (spec.has_lora_dropout()) {
    RETURN_IF_ERROR(CheckDouble("lora_dropout", spec.lora_dropout(), DoubleRule::kUnitInterval));
  }
  RETURN_IF_ERROR(CheckTargetModules(spec));
  if (spec.has_bnb_4bit_use_double_quant() && method != ftd::v1::METHOD_QLORA) {
    return Error("bnb_4bit_use_double_quant",
                 absl::StrCat("only applies to method qlora, got method ", MethodName(method)));
  }
  return absl::OkStatus();
}

absl::Status CheckData(const JobSpec& spec) {
  if (spec.datasets().empty()) return Error("datasets", "at least one dataset is required");
  for (int i = 0; i < spec.datasets_size(); ++i) {
    const ftd::v1::Dataset& dataset = spec.datasets(i);
    const std::string path = absl::StrCat("datasets[", i, "]");
    if (dataset.path().empty()) return Error(path + ".path", "required");
    RETURN_IF_ERROR(CheckKnownEnum(path + ".type", dataset.type(), ftd::v1::DatasetType_descriptor()));
  }
  if (spec.has_val_set_size()) {
    RETURN_IF_ERROR(CheckDouble("val_set_size", spec.val_set_size(), DoubleRule::kUnitInterval));
  }
  if (spec.has_rehearsal()) {
    if (spec.rehearsal().path().empty()) return Error("rehearsal.path", "required");
    if (spec.rehearsal().has_ratio()) {
      RETURN_IF_ERROR(CheckDouble("rehearsal.ratio", spec.rehearsal().ratio(), DoubleRule::kUnitInterval));
    }
  }
  if (spec.has_sequence_len()) RETURN_IF_ERROR(CheckPositive("sequence_len", spec.sequence_len()));
  RETURN_IF_ERROR(CheckKnownEnum("chat_template", spec.chat_template(), ftd::v1::ChatTemplate_descriptor()));
  if (spec.chat_template() == ftd::v1::CHAT_TEMPLATE_UNSPECIFIED) {
    for (int i = 0; i < spec.datasets_size(); ++i) {
      if (spec.datasets(i).type() == ftd::v1::DATASET_TYPE_CHAT_TEMPLATE) {
        return Error("chat_template", absl::StrCat("required because datasets[", i, "] has type chat_template"));
      }
    }
  }
  if (spec.has_max_bad_line_fraction()) {
    RETURN_IF_ERROR(
        CheckDouble("max_bad_line_fraction", spec.max_bad_line_fraction(), DoubleRule::kClosedUnitInterval));
  }
  return absl::OkStatus();
}

absl::Status CheckOptimisation(const JobSpec& spec) {
  if (spec.has_micro_batch_size()) RETURN_IF_ERROR(CheckPositive("micro_batch_size", spec.micro_batch_size()));
  if (spec.has_gradient_accumulation_steps()) {
    RETURN_IF_ERROR(CheckPositive("gradient_accumulation_steps", spec.gradient_accumulation_steps()));
  }
  if (spec.has_num_epochs()) RETURN_IF_ERROR(CheckDouble("num_epochs", spec.num_epochs(), DoubleRule::kPositive));
  if (spec.has_max_steps()) RETURN_IF_ERROR(CheckAtLeast("max_steps", spec.max_steps(), 0));
  if (spec.has_learning_rate()) {
    RETURN_IF_ERROR(CheckDouble("learning_rate", spec.learning_rate(), DoubleRule::kPositive));
  }
  RETURN_IF_ERROR(CheckKnownEnum("lr_scheduler", spec.lr_scheduler(), ftd::v1::LrScheduler_descriptor()));
  if (spec.has_warmup_steps()) {
    RETURN_IF_ERROR(CheckAtLeast("warmup_steps", spec.warmup_steps(), 0));
    if (spec.max_steps() > 0 && spec.warmup_steps() > spec.max_steps()) {
      return Error("warmup_steps",
                   absl::StrCat("must be <= max_steps (", spec.max_steps(), "), got ", spec.warmup_steps()));
    }
  }
  if (spec.has_weight_decay()) {
    RETURN_IF_ERROR(CheckDouble("weight_decay", spec.weight_decay(), DoubleRule::kNonNegative));
  }
  if (spec.has_max_grad_norm()) {
    RETURN_IF_ERROR(CheckDouble("max_grad_norm", spec.max_grad_norm(), DoubleRule::kNonNegative));
  }
  return absl::OkStatus();
}

absl::Status CheckBenchmark(const ftd::v1::Benchmark& benchmark, const std::string& path) {
  if (benchmark.suite() == ftd::v1::BENCHMARK_SUITE_UNSPECIFIED) return Error(path + ".suite", "required");
  RETURN_IF_ERROR(CheckKnownEnum(path + ".suite", benchmark.suite(), ftd::v1::BenchmarkSuite_descriptor()));
  // Needle retrieval generates its own haystack, so it alone needs no data file.
  if (benchmark.path().empty() && benchmark.suite() != ftd::v1::BENCHMARK_SUITE_LONG_CONTEXT) {
    return Error(path + ".path", "required");
  }
  if (benchmark.has_num_fewshot()) RETURN_IF_ERROR(CheckAtLeast(path + ".num_fewshot", benchmark.num_fewshot(), 0));
  // "0 means all", so a negative limit has no meaning.
  if (benchmark.has_limit()) RETURN_IF_ERROR(CheckAtLeast(path + ".limit", benchmark.limit(), 0));
  for (int j = 0; j < benchmark.context_lengths_size(); ++j) {
    RETURN_IF_ERROR(CheckPositive(absl::StrCat(path, ".context_lengths[", j, "]"), benchmark.context_lengths(j)));
  }
  return absl::OkStatus();
}

absl::Status CheckEvaluation(const JobSpec& spec) {
  if (spec.has_eval_steps()) RETURN_IF_ERROR(CheckPositive("eval_steps", spec.eval_steps()));
  if (spec.has_save_steps()) RETURN_IF_ERROR(CheckPositive("save_steps", spec.save_steps()));
  if (spec.has_save_total_limit()) RETURN_IF_ERROR(CheckPositive("save_total_limit", spec.save_total_limit()));
  if (spec.has_early_stopping()) {
    const ftd::v1::EarlyStopping& early_stopping = spec.early_stopping();
    if (early_stopping.general_eval_dataset().empty()) {
      return Error("early_stopping.general_eval_dataset", "required");
    }
    if (early_stopping.has_general_ppl_max_rise()) {
      RETURN_IF_ERROR(CheckDouble("early_stopping.general_ppl_max_rise", early_stopping.general_ppl_max_rise(),
                                  DoubleRule::kPositive));
    }
    if (early_stopping.has_patience()) {
      RETURN_IF_ERROR(CheckAtLeast("early_stopping.patience", early_stopping.patience(), 1));
    }
    if (spec.val_set_size() <= 0) {
      return Error("val_set_size", "must be > 0 with early_stopping (the best checkpoint is the one with the lowest "
                                   "task validation loss)");
    }
  }
  for (int i = 0; i < spec.benchmarks_size(); ++i) {
    RETURN_IF_ERROR(CheckBenchmark(spec.benchmarks(i), absl::StrCat("benchmarks[", i, "]")));
  }
  return absl::OkStatus();
}

absl::Status CheckPlacement(const JobSpec& spec) {
  if (spec.has_world_size()) RETURN_IF_ERROR(CheckInRange("world_size", spec.world_size(), 1, 1024));
  RETURN_IF_ERROR(CheckKnownEnum("device", spec.device(), ftd::v1::Device_descriptor()));
  if (spec.has_max_restarts()) RETURN_IF_ERROR(CheckInRange("max_restarts", spec.max_restarts(), 0, 100));
  if (spec.has_priority()) RETURN_IF_ERROR(CheckInRange("priority", spec.priority(), -100, 100));
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateJobSpec(const JobSpec& spec) {
  if (const size_t chars = Utf8Length(spec.name()); chars > kMaxNameChars) {
    return Error("name", absl::StrCat("must be at most ", kMaxNameChars, " characters, got ", chars));
  }
  if (spec.base_model().empty()) return Error("base_model", "required");
  RETURN_IF_ERROR(CheckKnownEnum("method", spec.method(), ftd::v1::Method_descriptor()));
  RETURN_IF_ERROR(CheckAdapter(spec));
  RETURN_IF_ERROR(CheckData(spec));
  RETURN_IF_ERROR(CheckOptimisation(spec));
  RETURN_IF_ERROR(CheckEvaluation(spec));
  return CheckPlacement(spec);
}

absl::Status ValidateBenchmark(const ftd::v1::Benchmark& benchmark, const std::string& key_path) {
  return CheckBenchmark(benchmark, key_path);
}

}  // namespace ftd
