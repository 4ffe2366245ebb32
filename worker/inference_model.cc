// LoadInferenceModel: weights to the backend, adapter on top, tokenizer beside.
#include "worker/inference_model.h"

#include "common/status_macros.h"
#include "model/hf_model.h"
#include "model/peft_adapter.h"

namespace ftd {

absl::StatusOr<InferenceModel> LoadInferenceModel(const std::string& model_dir, const std::string& adapter_dir) {
  InferenceModel loaded;
  {
    ASSIGN_OR_RETURN(HfModel hf, LoadHfModel(model_dir));  // Mapped weights, released once copied.
    ASSIGN_OR_RETURN(Backend * backend, GetBackend("cpu"));
    ASSIGN_OR_RETURN(loaded.model, LlamaModel::Load(hf, backend));
  }
  if (!adapter_dir.empty()) {
    ASSIGN_OR_RETURN(LoraAdapter adapter, ReadLoraAdapter(adapter_dir));
    RETURN_IF_ERROR(Annotate(loaded.model->AttachLora(adapter), adapter_dir));
  }
  ASSIGN_OR_RETURN(loaded.tokenizer, Tokenizer::FromDir(model_dir));
  return loaded;
}

}  // namespace ftd
