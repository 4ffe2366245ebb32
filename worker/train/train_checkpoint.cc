// SaveTrainCheckpoint / LoadTrainCheckpoint: tensors as safetensors images, the rest as the manifest's metadata.
#include "worker/train/train_checkpoint.h"

#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/checkpoint/checkpoint_io.h"
#include "common/status_macros.h"
#include "model/safetensors.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

using json = nlohmann::json;

constexpr char kTrainedFile[] = "trained.safetensors";
constexpr char kOptimizerFile[] = "optimizer.safetensors";

Tensor F32Tensor(const std::vector<float>& values) {
  return Tensor::FromF32({static_cast<int64_t>(values.size())}, values);
}

absl::StatusOr<std::string> Serialize(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::vector<std::pair<std::string, TensorView>> views;
  views.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) views.emplace_back(name, tensor.view());
  return SerializeSafetensors(views);
}

// The fp32 tensors of a safetensors image, flattened. DATA_LOSS when the image does not parse or holds another
// dtype: the chunks' CRCs matched, so the writer itself wrote something wrong.
absl::StatusOr<std::map<std::string, std::vector<float>>> Deserialize(const std::string& bytes,
                                                                      absl::string_view what) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  absl::StatusOr<SafetensorsHeader> header = ParseSafetensors(absl::MakeConstSpan(data, bytes.size()));
  if (!header.ok()) return absl::DataLossError(absl::StrCat(what, ": ", header.status().message()));
  std::map<std::string, std::vector<float>> tensors;
  for (const auto& [name, entry] : header->tensors) {
    if (entry.dtype != DType::kF32) return absl::DataLossError(absl::StrCat(what, ": ", name, " is not F32"));
    std::vector<float> values((entry.end - entry.begin) / sizeof(float));
    std::memcpy(values.data(), data + header->data_start + entry.begin, values.size() * sizeof(float));
    tensors.emplace(name, std::move(values));
  }
  return tensors;
}

json EvalsToJson(const std::vector<EvalPoint>& evals) {
  json out = json::array();
  for (const EvalPoint& e : evals) {
    out.push_back({{"step", e.step}, {"task_val_loss", e.task_val_loss}, {"general_ppl", e.general_ppl}});
  }
  return out;
}

// The keys whose values differ between two fingerprints.
std::vector<std::string> Differences(const json& a, const json& b) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : a.items()) {
    if (!b.contains(key) || b[key] != value) keys.push_back(key);
  }
  for (const auto& [key, value] : b.items()) {
    if (!a.contains(key)) keys.push_back(key);
  }
  return keys;
}

}  // namespace

std::string TrainCheckpointName(int64_t step) { return absl::StrFormat("step-%08d", step); }

std::string TrainRunFingerprint(const TrainConfig& config, int64_t examples, int world_size) {
  json datasets = json::array();
  for (const TrainDataset& d : config.datasets) datasets.push_back({d.path, static_cast<int>(d.format)});
  json fingerprint = {
      {"base_model", config.base_model},
      {"method", TrainMethodName(config.method)},
      {"lora_r", config.lora.r},
      {"lora_alpha", config.lora.lora_alpha},
      {"lora_dropout", config.lora.lora_dropout},
      {"lora_target_modules", config.lora.all_linear ? std::vector<std::string>{"all-linear"}
                                                     : config.lora.target_modules},
      {"use_rslora", config.lora.use_rslora},
      {"datasets", datasets},
      {"examples", examples},
      {"val_set_size", config.val_set_size},
      {"max_bad_line_fraction", config.max_bad_line_fraction},
      {"chat_template", config.chat_template.has_value() ? config.chat_template->name : ""},
      {"rehearsal", config.rehearsal.has_value() ? json{config.rehearsal->path, config.rehearsal->ratio} : json()},
      {"sequence_len", config.sequence_len},
      {"sample_packing", config.sample_packing},
      {"micro_batch_size", config.micro_batch_size},
      {"gradient_accumulation_steps", config.gradient_accumulation_steps},
      {"num_epochs", config.num_epochs},
      {"max_steps", config.max_steps},
      {"learning_rate", config.learning_rate},
      {"lr_scheduler", static_cast<int>(config.lr_scheduler)},
      {"warmup_steps", config.warmup_steps},
      {"weight_decay", config.weight_decay},
      {"max_grad_norm", config.max_grad_norm},
      {"seed", config.seed},
      {"world_size", world_size},
  };
  if (config.method == TrainMethod::kQlora) fingerprint["bnb_4bit_use_double_quant"] = config.double_quant;
  return fingerprint.dump();
}

absl::Status SaveTrainCheckpoint(CheckpointStore& store, LlamaModel& model, const std::vector<std::string>& trained,
                                 const AdamWOptimizer& optimizer, const TrainCheckpointMeta& meta,
                                 const std::string& fingerprint) {
  std::vector<std::pair<std::string, Tensor>> weights;
  for (const std::string& name : trained) {
    ASSIGN_OR_RETURN(DeviceBuffer * buffer, model.Parameter(name));
    std::vector<float> host(static_cast<size_t>(buffer->size()));
    RETURN_IF_ERROR(model.backend()->CopyToHost(host.data(), buffer->data(), buffer->size() * sizeof(float)));
    weights.emplace_back(name, F32Tensor(host));
  }
  ASSIGN_OR_RETURN(const AdamWOptimizer::State state, optimizer.ExportState());
  std::vector<std::pair<std::string, Tensor>> moments;
  for (const auto& [name, m] : state.exp_avg) moments.emplace_back("exp_avg." + name, F32Tensor(m));
  for (const auto& [name, v] : state.exp_avg_sq) moments.emplace_back("exp_avg_sq." + name, F32Tensor(v));

  const std::string name = TrainCheckpointName(meta.progress.step);
  ASSIGN_OR_RETURN(CheckpointWriter writer, CheckpointWriter::Begin(&store, name));
  ASSIGN_OR_RETURN(std::string weight_bytes, Serialize(weights));
  weights.clear();
  RETURN_IF_ERROR(writer.AddFile(kTrainedFile, weight_bytes));
  weight_bytes.clear();
  ASSIGN_OR_RETURN(std::string moment_bytes, Serialize(moments));
  moments.clear();
  RETURN_IF_ERROR(writer.AddFile(kOptimizerFile, moment_bytes));
  const json metadata = {{"step", meta.progress.step},
                         {"epoch", meta.progress.epoch},
                         {"next_micro", meta.progress.next_micro},
                         {"micro_done", meta.progress.micro_done},
                         {"optimizer_step", state.step},
                         {"world_size", meta.world_size},
                         {"evals", EvalsToJson(meta.evals)},
                         {"run", json::parse(fingerprint)}};
  return writer.Commit(meta.progress.step, metadata.dump());
}

absl::StatusOr<TrainCheckpointMeta> LoadTrainCheckpoint(CheckpointStore& store, const std::string& name,
                                                        LlamaModel& model, const std::vector<std::string>& trained,
                                                        AdamWOptimizer& optimizer, const std::string& fingerprint) {
  ASSIGN_OR_RETURN(const CheckpointManifest manifest, ReadCheckpointManifest(store, name));
  ASSIGN_OR_RETURN(const auto files, ReadCheckpointFiles(store, name));
  TrainCheckpointMeta meta;
  AdamWOptimizer::State state;
  const json metadata = json::parse(manifest.metadata_json, nullptr, /*allow_exceptions=*/false);
  try {
    if (!metadata.is_object()) throw std::runtime_error("the metadata is not a JSON object");
    const json expected = json::parse(fingerprint);
    const std::vector<std::string> differ = Differences(metadata.at("run"), expected);
    if (!differ.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint ", name, " belongs to another run: ", absl::StrJoin(differ, ", "),
                       " differ from this run's (start in an empty checkpoint directory to train afresh)"));
    }
    meta.progress.step = metadata.at("step").get<int64_t>();
    meta.progress.epoch = metadata.at("epoch").get<int64_t>();
    meta.progress.next_micro = metadata.at("next_micro").get<int64_t>();
    meta.progress.micro_done = metadata.at("micro_done").get<int64_t>();
    meta.world_size = metadata.at("world_size").get<int>();
    state.step = metadata.at("optimizer_step").get<int64_t>();
    for (const json& e : metadata.at("evals")) {
      meta.evals.push_back(EvalPoint{e.at("step").get<int64_t>(), e.at("task_val_loss").get<double>(),
                                     e.at("general_ppl").get<double>()});
    }
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("checkpoint ", name, ": malformed metadata: ", e.what()));
  }
  for (const char* file : {kTrainedFile, kOptimizerFile}) {
    if (files.count(file) == 0) return absl::DataLossError(absl::StrCat("checkpoint ", name, " has no ", file));
  }
  ASSIGN_OR_RETURN(auto weights, Deserialize(files.at(kTrainedFile), absl::StrCat(name, "/", kTrainedFile)));
  ASSIGN_OR_RETURN(auto moments, Deserialize(files.at(kOptimizerFile), absl::StrCat(name, "/", kOptimizerFile)));
  for (auto& [key, values] : moments) {
    const bool m = key.rfind("exp_avg.", 0) == 0;
    const bool v = key.rfind("exp_avg_sq.", 0) == 0;
    if (m) state.exp_avg.emplace(key.substr(8), std::move(values));
    if (v) state.exp_avg_sq.emplace(key.substr(11), std::move(values));
    if (!m && !v) return absl::DataLossError(absl::StrCat(name, "/", kOptimizerFile, ": unexpected tensor ", key));
  }
  // Check every tensor against the model before changing anything.
  if (weights.size() != trained.size()) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint ", name, " holds ", weights.size(),
                                                      " trained tensors; this run trains ", trained.size()));
  }
  for (const std::string& tensor : trained) {
    const auto it = weights.find(tensor);
    if (it == weights.end()) {
      return absl::FailedPreconditionError(absl::StrCat("checkpoint ", name, " has no tensor ", tensor));
    }
    ASSIGN_OR_RETURN(DeviceBuffer * buffer, model.Parameter(tensor));
    if (static_cast<int64_t>(it->second.size()) != buffer->size()) {
      return absl::FailedPreconditionError(absl::StrCat("checkpoint ", name, ": ", tensor, " has ",
                                                        it->second.size(), " elements; the model's has ",
                                                        buffer->size()));
    }
  }
  RETURN_IF_ERROR_CONTEXT(optimizer.ImportState(state), absl::StrCat("checkpoint ", name));
  for (const std::string& tensor : trained) {
    ASSIGN_OR_RETURN(DeviceBuffer * buffer, model.Parameter(tensor));
    const std::vector<float>& values = weights.at(tensor);
    RETURN_IF_ERROR(model.backend()->CopyToDevice(buffer->data(), values.data(), values.size() * sizeof(float)));
  }
  return meta;
}

}  // namespace ftd
