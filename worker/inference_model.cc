// LoadInferenceModel: weights to the backend (NF4-coded when asked), adapter on top, tokenizer beside.
#include "worker/inference_model.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "model/hf_model.h"
#include "model/peft_adapter.h"

namespace ftd {

absl::StatusOr<InferenceModel> LoadInferenceModel(const std::string& model_dir, const std::string& adapter_dir,
                                                  const LlamaLoadOptions& load) {
  InferenceModel loaded;
  {
    ASSIGN_OR_RETURN(HfModel hf, LoadHfModel(model_dir));  // Mapped weights, released once copied.
    ASSIGN_OR_RETURN(Backend * backend, GetBackend("cpu"));
    ASSIGN_OR_RETURN(loaded.model, LlamaModel::Load(hf, backend, load));
  }
  if (!adapter_dir.empty()) {
    ASSIGN_OR_RETURN(LoraAdapter adapter, ReadLoraAdapter(adapter_dir));
    RETURN_IF_ERROR(Annotate(loaded.model->AttachLora(adapter), adapter_dir));
  }
  ASSIGN_OR_RETURN(loaded.tokenizer, Tokenizer::FromDir(model_dir));
  return loaded;
}

absl::StatusOr<std::optional<Nf4Statistics>> ParseQuantizeBase(absl::string_view value) {
  if (value.empty()) return std::nullopt;
  if (value == kQuantizeBaseNf4) return Nf4Statistics::kFp32Absmax;
  if (value == kQuantizeBaseNf4DoubleQuant) return Nf4Statistics::kDoubleQuant;
  return absl::InvalidArgumentError(absl::StrCat("--quantize-base must be ", kQuantizeBaseNf4, " or ",
                                                 kQuantizeBaseNf4DoubleQuant, ", got \"", value, "\""));
}

}  // namespace ftd
