// CheckSubmitPlacement: config.json -> ModelShape, resolved spec -> TrainShape, EstimateRankMemory, then
// CheckPlaceable over every registered worker's slot.
#include "coordinator/service/placement_check.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ftd {
namespace {

bool OnlyQueryAndValue(const ftd::v1::JobSpec& spec) {
  for (const std::string& module : spec.lora_target_modules()) {
    if (module != "q_proj" && module != "v_proj") return false;
  }
  return true;
}

const char* KindName(DeviceKind kind) { return kind == DeviceKind::kCuda ? "cuda" : "cpu"; }

}  // namespace

std::vector<WorkerSlot> WorkerSlotsOf(const std::vector<StoredWorker>& workers) {
  std::vector<WorkerSlot> slots;
  for (const StoredWorker& worker : workers) {
    const std::string name = absl::StrCat("workers/", worker.worker_id);
    const ftd::v1::RegisterWorkerRequest& registration = worker.registration;
    if (registration.gpus().empty()) {
      slots.push_back(WorkerSlot{name, DeviceKind::kCpu, registration.cpu().memory_bytes(), false});
      continue;
    }
    for (const ftd::v1::GpuDevice& gpu : registration.gpus()) {
      slots.push_back(WorkerSlot{name, DeviceKind::kCuda, gpu.memory_bytes(), false});
    }
  }
  return slots;
}

ModelShape ModelShapeOf(const LlamaConfig& config) {
  ModelShape shape;
  shape.hidden_size = config.hidden_size;
  shape.intermediate_size = config.intermediate_size;
  shape.num_hidden_layers = config.num_hidden_layers;
  shape.num_attention_heads = config.num_attention_heads;
  shape.num_key_value_heads = config.num_key_value_heads;
  shape.head_dim = config.head_dim;
  shape.vocab_size = config.vocab_size;
  shape.tie_word_embeddings = config.tie_word_embeddings;
  return shape;
}

TrainShape TrainShapeOf(const ftd::v1::JobSpec& resolved) {
  TrainShape shape;
  switch (resolved.method()) {
    case ftd::v1::METHOD_QLORA: shape.method = EstimateMethod::kQlora; break;
    case ftd::v1::METHOD_FULL: shape.method = EstimateMethod::kFull; break;
    default: shape.method = EstimateMethod::kLora; break;
  }
  shape.device = resolved.device() == ftd::v1::DEVICE_CPU ? DeviceKind::kCpu : DeviceKind::kCuda;
  shape.lora_r = resolved.lora_r();
  shape.lora_all_linear = !OnlyQueryAndValue(resolved);
  shape.micro_batch_size = resolved.micro_batch_size();
  shape.sequence_len = resolved.sequence_len();
  return shape;
}

absl::StatusOr<SubmitPlacement> CheckSubmitPlacement(const ftd::v1::JobSpec& resolved,
                                                     const std::vector<StoredWorker>& workers) {
  // Whatever the reason (no such directory, no config.json, an unsupported architecture), the caller fixes the
  // spec: INVALID_ARGUMENT.
  absl::StatusOr<LlamaConfig> config = LoadLlamaConfig(resolved.base_model());
  if (!config.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("spec.base_model: ", config.status().message()));
  }
  const TrainShape train = TrainShapeOf(resolved);
  absl::StatusOr<MemoryEstimate> estimate = EstimateRankMemory(ModelShapeOf(*config), train);
  if (!estimate.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.base_model: ", resolved.base_model(), ": ", estimate.status().message()));
  }

  SubmitPlacement placement;
  placement.estimate = *estimate;
  placement.workers_registered = static_cast<int64_t>(workers.size());
  if (workers.empty()) {
    placement.summary = absl::StrCat("estimated ", estimate->Describe(),
                                     "; no worker is registered yet, so no placement was checked");
    return placement;
  }
  QueuedJob job;
  job.world_size = resolved.world_size();
  job.kind = train.device;
  job.rank_memory_bytes = estimate->total_bytes;
  const std::vector<WorkerSlot> slots = WorkerSlotsOf(workers);
  RETURN_IF_ERROR(CheckPlaceable(job, slots, *estimate));
  int64_t large_enough = 0;
  for (const WorkerSlot& slot : slots) {
    if (slot.kind == job.kind && slot.memory_bytes >= job.rank_memory_bytes) ++large_enough;
  }
  placement.summary = absl::StrCat("estimated ", estimate->Describe(), "; ", large_enough, " registered ",
                                   KindName(job.kind), " slots could hold a rank, ", job.world_size, " needed");
  return placement;
}

}  // namespace ftd
