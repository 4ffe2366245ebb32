// ftctl adapter init / merge: a fresh PEFT adapter for a base model; PEFT adapter + base model -> merged HF
// model directory (model/peft_adapter.h).
#include "cli/adapter_commands.h"

#include <ostream>

#include "common/status_macros.h"
#include "model/model_config.h"

namespace ftd {

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
  ASSIGN_OR_RETURN(LoraAdapter adapter, ReadLoraAdapter(adapter_dir));
  RETURN_IF_ERROR(MergeLoraAdapter(base_dir, adapter, adapter_dir, out_dir));
  out << "merged " << adapter.weights.size() << " LoRA modules (r=" << adapter.config.r
      << ", scale=" << LoraScale(adapter.config) << ") into " << out_dir << "\n";
  return absl::OkStatus();
}

}  // namespace ftd
