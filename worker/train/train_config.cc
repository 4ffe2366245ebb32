// ParseTrainConfigYaml: job-spec YAML -> TrainConfig with yaml-cpp, key by key, each value checked where it is
// read so that the message names the key.
#include "worker/train/train_config.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "model/hf_model.h"
#include "yaml-cpp/yaml.h"

namespace ftd {
namespace {

// What ParseTrainConfigYaml does with a key it does not turn into a TrainConfig field.
constexpr absl::string_view kIgnoredKeys[] = {"benchmarks", "max_restarts", "priority"};

absl::Status KeyError(absl::string_view key, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", reason));
}

std::string Describe(const YAML::Node& node) {
  if (node.IsScalar()) return absl::StrCat("\"", node.Scalar(), "\"");
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "null";
}

absl::StatusOr<std::string> ReadString(const YAML::Node& node, absl::string_view key) {
  if (!node.IsScalar()) return KeyError(key, absl::StrCat("expected a string, got ", Describe(node)));
  return node.Scalar();
}

absl::StatusOr<int64_t> ReadInt(const YAML::Node& node, absl::string_view key, int64_t min) {
  int64_t value = 0;
  if (!node.IsScalar() || !YAML::convert<int64_t>::decode(node, value)) {
    return KeyError(key, absl::StrCat("expected an integer, got ", Describe(node)));
  }
  if (value < min) return KeyError(key, absl::StrCat("must be >= ", min, ", got ", value));
  return value;
}

absl::StatusOr<double> ReadNumber(const YAML::Node& node, absl::string_view key) {
  double value = 0;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !std::isfinite(value)) {
    return KeyError(key, absl::StrCat("expected a finite number, got ", Describe(node)));
  }
  return value;
}

absl::StatusOr<bool> ReadBool(const YAML::Node& node, absl::string_view key) {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    return KeyError(key, absl::StrCat("expected true or false, got ", Describe(node)));
  }
  return value;
}

// An enum value by its YAML name ('-' and '_' alike); choices in the order given.
absl::StatusOr<std::string> ReadChoice(const YAML::Node& node, absl::string_view key,
                                       const std::vector<std::string>& choices) {
  ASSIGN_OR_RETURN(std::string value, ReadString(node, key));
  for (char& c : value) {
    if (c == '-') c = '_';
  }
  for (const std::string& choice : choices) {
    if (value == choice) return value;
  }
  return KeyError(key, absl::StrCat("expected one of ", absl::StrJoin(choices, ", "), ", got ", Describe(node)));
}

absl::Status ReadTargets(const YAML::Node& node, LoraConfig& lora) {
  constexpr absl::string_view key = "lora_target_modules";
  std::vector<std::string> names;
  if (node.IsScalar()) {
    names.push_back(node.Scalar());
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      ASSIGN_OR_RETURN(std::string name, ReadString(node[i], absl::StrCat(key, "[", i, "]")));
      names.push_back(name);
    }
  } else {
    return KeyError(key, absl::StrCat("expected a list of module names, got ", Describe(node)));
  }
  if (names.empty()) return KeyError(key, "must name at least one module");
  if (names.size() == 1 && names[0] == "all-linear") {
    lora.all_linear = true;
    lora.target_modules.clear();
    return absl::OkStatus();
  }
  std::set<std::string> known;
  for (const std::string& module : LlamaLinearModules()) known.insert(module.substr(module.find('.') + 1));
  for (size_t i = 0; i < names.size(); ++i) {
    if (known.count(names[i]) == 0) {
      return KeyError(absl::StrCat(key, "[", i, "]"),
                      absl::StrCat("expected one of ", absl::StrJoin(known, ", "), ", or the single entry "
                                   "all-linear, got \"", names[i], "\""));
    }
  }
  lora.all_linear = false;
  lora.target_modules = names;
  return absl::OkStatus();
}

absl::Status ReadDatasets(const YAML::Node& node, std::vector<TrainDataset>& datasets) {
  if (!node.IsSequence() || node.size() == 0) {
    return KeyError("datasets", absl::StrCat("expected a non-empty list of {path, type}, got ", Describe(node)));
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string at = absl::StrCat("datasets[", i, "]");
    const YAML::Node& entry = node[i];
    if (!entry.IsMap()) return KeyError(at, absl::StrCat("expected a mapping {path, type}, got ", Describe(entry)));
    TrainDataset dataset;
    for (const auto& item : entry) {
      if (!item.first.IsScalar()) return KeyError(at, "a key is not a string");
      const std::string key = item.first.Scalar();
      if (key == "path") {
        ASSIGN_OR_RETURN(dataset.path, ReadString(item.second, at + ".path"));
      } else if (key == "type") {
        ASSIGN_OR_RETURN(std::string type, ReadChoice(item.second, at + ".type",
                                                      {"auto", "text", "prompt_completion", "chat_template"}));
        dataset.format = type == "text"                ? RecordFormat::kText
                         : type == "prompt_completion" ? RecordFormat::kPromptCompletion
                         : type == "chat_template"     ? RecordFormat::kMessages
                                                       : RecordFormat::kAuto;
      } else {
        return KeyError(absl::StrCat(at, ".", key), "unknown key (expected path, type)");
      }
    }
    if (dataset.path.empty()) return KeyError(at + ".path", "is required");
    datasets.push_back(dataset);
  }
  return absl::OkStatus();
}

absl::Status ReadRehearsal(const YAML::Node& node, TrainConfig& config) {
  if (!node.IsMap()) {
    return KeyError("rehearsal", absl::StrCat("expected a mapping {path, ratio}, got ", Describe(node)));
  }
  TrainRehearsal rehearsal;
  for (const auto& item : node) {
    if (!item.first.IsScalar()) return KeyError("rehearsal", "a key is not a string");
    const std::string key = item.first.Scalar();
    const std::string at = "rehearsal." + key;
    if (key == "path") {
      ASSIGN_OR_RETURN(rehearsal.path, ReadString(item.second, at));
    } else if (key == "ratio") {
      ASSIGN_OR_RETURN(rehearsal.ratio, ReadNumber(item.second, at));
      if (rehearsal.ratio < 0 || rehearsal.ratio >= 1) return KeyError(at, "must be in [0, 1)");
    } else {
      return KeyError(at, "unknown key (expected path, ratio)");
    }
  }
  if (rehearsal.path.empty()) return KeyError("rehearsal.path", "is required");
  config.rehearsal = rehearsal;
  return absl::OkStatus();
}

absl::Status ReadEarlyStopping(const YAML::Node& node, TrainConfig& config) {
  if (!node.IsMap()) {
    return KeyError("early_stopping", absl::StrCat("expected a mapping {general_eval_dataset, general_ppl_max_rise, "
                                                   "patience}, got ", Describe(node)));
  }
  TrainEarlyStopping early;
  for (const auto& item : node) {
    if (!item.first.IsScalar()) return KeyError("early_stopping", "a key is not a string");
    const std::string key = item.first.Scalar();
    const std::string at = "early_stopping." + key;
    if (key == "general_eval_dataset") {
      ASSIGN_OR_RETURN(early.general_eval_dataset, ReadString(item.second, at));
    } else if (key == "general_ppl_max_rise") {
      ASSIGN_OR_RETURN(early.general_ppl_max_rise, ReadNumber(item.second, at));
      if (early.general_ppl_max_rise <= 0) return KeyError(at, "must be > 0");
    } else if (key == "patience") {
      ASSIGN_OR_RETURN(const int64_t patience, ReadInt(item.second, at, 1));
      early.patience = static_cast<int>(std::min<int64_t>(patience, 1 << 30));
    } else {
      return KeyError(at, "unknown key (expected general_eval_dataset, general_ppl_max_rise, patience)");
    }
  }
  if (early.general_eval_dataset.empty()) return KeyError("early_stopping.general_eval_dataset", "is required");
  config.early_stopping = early;
  return absl::OkStatus();
}

using KeyReader = std::function<absl::Status(const YAML::Node&, TrainConfig&)>;

// The readers of the keys TrainConfig holds, and the refusals of those it cannot run.
const std::map<std::string, KeyReader>& Readers() {
  static const auto* readers = new std::map<std::string, KeyReader>{
      {"name", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.name, ReadString(n, "name"));
         return absl::OkStatus();
       }},
      {"base_model", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.base_model, ReadString(n, "base_model"));
         return absl::OkStatus();
       }},
      {"method", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(std::string m, ReadChoice(n, "method", {"lora", "qlora", "full"}));
         c.method = m == "full" ? TrainMethod::kFull : m == "qlora" ? TrainMethod::kQlora : TrainMethod::kLora;
         return absl::OkStatus();
       }},
      {"bnb_4bit_use_double_quant", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.double_quant, ReadBool(n, "bnb_4bit_use_double_quant"));
         return absl::OkStatus();
       }},
      {"lora_r", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.lora.r, ReadInt(n, "lora_r", 1));
         return absl::OkStatus();
       }},
      {"lora_alpha", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.lora.lora_alpha, ReadNumber(n, "lora_alpha"));
         if (c.lora.lora_alpha <= 0) return KeyError("lora_alpha", "must be > 0");
         return absl::OkStatus();
       }},
      {"lora_dropout", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.lora.lora_dropout, ReadNumber(n, "lora_dropout"));
         if (c.lora.lora_dropout < 0 || c.lora.lora_dropout >= 1) return KeyError("lora_dropout", "must be in [0, 1)");
         return absl::OkStatus();
       }},
      {"lora_target_modules", [](const YAML::Node& n, TrainConfig& c) { return ReadTargets(n, c.lora); }},
      {"use_rslora", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.lora.use_rslora, ReadBool(n, "use_rslora"));
         return absl::OkStatus();
       }},
      {"datasets", [](const YAML::Node& n, TrainConfig& c) { return ReadDatasets(n, c.datasets); }},
      {"val_set_size", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.val_set_size, ReadNumber(n, "val_set_size"));
         if (c.val_set_size < 0 || c.val_set_size >= 1) return KeyError("val_set_size", "must be in [0, 1)");
         return absl::OkStatus();
       }},
      {"rehearsal", [](const YAML::Node& n, TrainConfig& c) { return ReadRehearsal(n, c); }},
      {"sequence_len", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.sequence_len, ReadInt(n, "sequence_len", 2));
         return absl::OkStatus();
       }},
      {"gradient_checkpointing", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.gradient_checkpointing, ReadBool(n, "gradient_checkpointing"));
         return absl::OkStatus();
       }},
      {"sample_packing", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.sample_packing, ReadBool(n, "sample_packing"));
         return absl::OkStatus();
       }},
      {"chat_template", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(std::string name, ReadString(n, "chat_template"));
         absl::StatusOr<ChatTemplate> parsed = ParseChatTemplate(name);
         if (!parsed.ok()) return KeyError("chat_template", parsed.status().message());
         c.chat_template = *std::move(parsed);
         return absl::OkStatus();
       }},
      {"max_bad_line_fraction", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.max_bad_line_fraction, ReadNumber(n, "max_bad_line_fraction"));
         if (c.max_bad_line_fraction < 0 || c.max_bad_line_fraction > 1) {
           return KeyError("max_bad_line_fraction", "must be in [0, 1]");
         }
         return absl::OkStatus();
       }},
      {"micro_batch_size", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.micro_batch_size, ReadInt(n, "micro_batch_size", 1));
         return absl::OkStatus();
       }},
      {"gradient_accumulation_steps", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.gradient_accumulation_steps, ReadInt(n, "gradient_accumulation_steps", 1));
         return absl::OkStatus();
       }},
      {"num_epochs", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.num_epochs, ReadNumber(n, "num_epochs"));
         if (c.num_epochs <= 0) return KeyError("num_epochs", "must be > 0");
         return absl::OkStatus();
       }},
      {"max_steps", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.max_steps, ReadInt(n, "max_steps", 0));
         return absl::OkStatus();
       }},
      {"learning_rate", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.learning_rate, ReadNumber(n, "learning_rate"));
         if (c.learning_rate <= 0) return KeyError("learning_rate", "must be > 0");
         return absl::OkStatus();
       }},
      {"lr_scheduler", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(std::string s, ReadChoice(n, "lr_scheduler", {"cosine", "linear", "constant"}));
         c.lr_scheduler = s == "cosine" ? LrSchedule::kCosine : s == "linear" ? LrSchedule::kLinear
                                                                              : LrSchedule::kConstant;
         return absl::OkStatus();
       }},
      {"warmup_steps", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.warmup_steps, ReadInt(n, "warmup_steps", 0));
         return absl::OkStatus();
       }},
      {"weight_decay", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.weight_decay, ReadNumber(n, "weight_decay"));
         if (c.weight_decay < 0) return KeyError("weight_decay", "must be >= 0");
         return absl::OkStatus();
       }},
      {"max_grad_norm", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.max_grad_norm, ReadNumber(n, "max_grad_norm"));
         if (c.max_grad_norm < 0) return KeyError("max_grad_norm", "must be >= 0 (0 disables clipping)");
         return absl::OkStatus();
       }},
      {"seed", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(int64_t seed, ReadInt(n, "seed", 0));
         c.seed = static_cast<uint64_t>(seed);
         return absl::OkStatus();
       }},
      {"eval_steps", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.eval_steps, ReadInt(n, "eval_steps", 1));
         return absl::OkStatus();
       }},
      {"save_steps", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.save_steps, ReadInt(n, "save_steps", 1));
         return absl::OkStatus();
       }},
      {"save_total_limit", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.save_total_limit, ReadInt(n, "save_total_limit", 0));
         return absl::OkStatus();
       }},
      {"early_stopping", [](const YAML::Node& n, TrainConfig& c) { return ReadEarlyStopping(n, c); }},
      {"world_size", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(c.world_size, ReadInt(n, "world_size", 1));
         return absl::OkStatus();
       }},
      {"device", [](const YAML::Node& n, TrainConfig& c) -> absl::Status {
         ASSIGN_OR_RETURN(std::string d, ReadChoice(n, "device", {"cuda", "cpu"}));
         c.device = d == "cuda" ? TrainDevice::kCuda : TrainDevice::kCpu;
         return absl::OkStatus();
       }},
  };
  return *readers;
}

}  // namespace

const char* TrainDeviceName(TrainDevice device) { return device == TrainDevice::kCuda ? "cuda" : "cpu"; }

LoraConfig TrainConfig::DefaultJobLoraConfig() {
  LoraConfig lora;
  lora.r = 8;
  lora.lora_alpha = 8;
  lora.lora_dropout = 0;
  lora.target_modules = {"q_proj", "v_proj"};
  lora.use_rslora = false;
  return lora;
}

const char* TrainMethodName(TrainMethod method) {
  switch (method) {
    case TrainMethod::kLora: return "lora";
    case TrainMethod::kQlora: return "qlora";
    case TrainMethod::kFull: return "full";
  }
  return "unknown";
}

const std::vector<std::string>& JobSpecKeys() {
  static const auto* keys = new std::vector<std::string>{
      "name", "base_model", "method", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "use_rslora",
      "bnb_4bit_use_double_quant", "datasets", "val_set_size", "rehearsal", "sequence_len", "sample_packing",
      "chat_template", "max_bad_line_fraction", "micro_batch_size", "gradient_accumulation_steps", "num_epochs",
      "max_steps", "learning_rate", "lr_scheduler", "warmup_steps", "weight_decay", "max_grad_norm",
      "gradient_checkpointing", "seed", "eval_steps", "save_steps", "save_total_limit", "early_stopping",
      "benchmarks", "world_size", "device", "max_restarts", "priority"};
  return *keys;
}

absl::StatusOr<TrainConfig> ParseTrainConfigYaml(absl::string_view yaml_text, std::vector<std::string>* ignored) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid YAML: ", e.what()));
  }
  if (!root.IsMap()) return absl::InvalidArgumentError("expected a mapping of job-spec keys at the top level");
  TrainConfig config;
  const std::set<absl::string_view> ignorable(std::begin(kIgnoredKeys), std::end(kIgnoredKeys));
  for (const auto& item : root) {
    if (!item.first.IsScalar()) return absl::InvalidArgumentError("a top-level key is not a string");
    const std::string key = item.first.Scalar();
    auto reader = Readers().find(key);
    if (reader != Readers().end()) {
      RETURN_IF_ERROR(reader->second(item.second, config));
    } else if (ignorable.count(key) > 0) {
      if (ignored != nullptr) ignored->push_back(key);
    } else {
      return KeyError(key, "unknown key (see proto/ftd/v1/job_spec.proto for the job-spec keys)");
    }
  }
  if (root["bnb_4bit_use_double_quant"] && config.method != TrainMethod::kQlora) {
    return KeyError("bnb_4bit_use_double_quant",
                    absl::StrCat("only applies to method qlora, got method ", TrainMethodName(config.method)));
  }
  if (config.base_model.empty()) return KeyError("base_model", "is required");
  if (config.datasets.empty()) return KeyError("datasets", "is required");
  if (!config.chat_template.has_value()) {
    for (size_t i = 0; i < config.datasets.size(); ++i) {
      if (config.datasets[i].format == RecordFormat::kMessages) {
        return KeyError("chat_template", absl::StrCat("required because datasets[", i,
                                                      "] has type chat_template (one of ",
                                                      absl::StrJoin(ChatTemplateNames(), ", "), ")"));
      }
    }
  }
  return config;
}

}  // namespace ftd
