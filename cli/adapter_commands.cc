// ftctl adapter init / merge: a fresh PEFT adapter for a base model; PEFT adapter + base model -> merged HF
// model directory (model/peft_adapter.h).
#include "cli/adapter_commands.h"

#include <optional>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "model/hf_model.h"
#include "model/model_config.h"

namespace ftd {
namespace {

// FAILED_PRECONDITION when `base_dir` is a bitsandbytes 4-bit directory (ftctl model quantize, a qlora base): its
// projections are NF4 codes and MergeLoraAdapter adds B @ A to floating weights only. The coordinator's merged
// export refuses the same base the same way (coordinator/service/artifact_export.cc). A config.json that cannot be
// read or parsed is left to MergeLoraAdapter to report.
absl::Status CheckMergeableBase(const std::string& base_dir) {
  const absl::StatusOr<std::string> config = ReadFileToString(JoinPath(base_dir, "config.json"));
  if (!config.ok()) return absl::OkStatus();
  const absl::StatusOr<std::optional<HfQuantization>> quantization = ParseHfQuantization(*config);
  if (!quantization.ok() || !quantization->has_value()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      base_dir, " is a bitsandbytes 4-bit directory (config.json quantization_config), and merging into NF4 "
      "weights is not supported: merge the adapter into the unquantised model that directory was quantised from"));
}

}  // namespace

absl::Status AdapterInit(const std::string& base_dir, LoraConfig config, uint64_t seed, const std::string& out_dir,
                         std::ostream& out) {
  ASSIGN_OR_RETURN(LlamaConfig model_config, LoadLlamaConfig(base_dir + "/config.json"));
  if (config.base_model_name_or_path.empty()) config.base_model_name_or_path = base_dir;
  ASSIGN_OR_RETURN(LoraAdapter adapter, InitLoraAdapter(config, model_config, seed));
  RETURN_IF_ERROR(WriteLoraAdapter(out_dir, adapter));
  out << "wrote a LoRA adapter with " << adapter.weights.size() << " modules (r=" << config.r
      << ", scale=" << LoraScale(config) << ") to " << out_dir << "\n";
  return absl::OkStatus();
}

absl::Status AdapterMerge(const std::string& base_dir, const std::string& adapter_dir, const std::string& out_dir,
                          std::ostream& out) {
  RETURN_IF_ERROR(CheckMergeableBase(base_dir));
  ASSIGN_OR_RETURN(LoraAdapter adapter, ReadLoraAdapter(adapter_dir));
  RETURN_IF_ERROR(MergeLoraAdapter(base_dir, adapter, adapter_dir, out_dir));
  out << "merged " << adapter.weights.size() << " LoRA modules (r=" << adapter.config.r
      << ", scale=" << LoraScale(adapter.config) << ") into " << out_dir << "\n";
  return absl::OkStatus();
}

}  // namespace ftd
