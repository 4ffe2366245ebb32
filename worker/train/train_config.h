// The single-process trainer's configuration: the job-spec keys it acts on (DESIGN.md "Job spec", proto/ftd/v1/
// job_spec.proto), as a plain struct, read from the same YAML a user submits with `ftctl submit`. A plain struct
// and yaml-cpp rather than the JobSpec proto so that `ftd-worker train` builds with FTD_SERVICE=OFF (no
// protobuf); the coordinator path converts a JobSpec into this struct.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/peft_adapter.h"
#include "worker/train/dataset.h"
#include "worker/train/lr_schedule.h"

namespace ftd {

enum class TrainMethod { kLora, kFull };

struct TrainDataset {
  std::string path;  // JSONL.
  RecordFormat format = RecordFormat::kAuto;
};

// Defaults are the job spec's (common/job_spec_defaults.cc).
struct TrainConfig {
  std::string name;
  std::string base_model;  // Hugging Face model directory.
  TrainMethod method = TrainMethod::kLora;
  LoraConfig lora = DefaultJobLoraConfig();  // r 8, alpha 8, dropout 0, q_proj + v_proj, no rsLoRA.
  std::vector<TrainDataset> datasets;
  int64_t sequence_len = 2048;
  int64_t micro_batch_size = 1;
  int64_t gradient_accumulation_steps = 1;
  double num_epochs = 1.0;
  int64_t max_steps = 0;  // > 0 overrides num_epochs.
  double learning_rate = 2e-4;
  LrSchedule lr_scheduler = LrSchedule::kCosine;
  int64_t warmup_steps = 0;
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;
  uint64_t seed = 42;

  static LoraConfig DefaultJobLoraConfig();
};

// Every top-level key of the job spec, in proto order: the ones ParseTrainConfigYaml acts on, ignores (placement,
// evaluation and checkpoint keys that only the coordinator uses) or refuses (features the single-process trainer
// does not have yet). A test checks this list against the JobSpec proto so that the two cannot drift apart.
const std::vector<std::string>& JobSpecKeys();

// Parses job-spec YAML. INVALID_ARGUMENT as "key: reason" for an unknown key or a bad value; UNIMPLEMENTED as
// "key: ..." for a job-spec feature `ftd-worker train` does not run yet (qlora, chat templates, packing,
// rehearsal, validation split, early stopping, world_size > 1, device cuda). Keys it ignores are returned in
// `ignored` (may be null) so the caller can say so.
absl::StatusOr<TrainConfig> ParseTrainConfigYaml(absl::string_view yaml_text, std::vector<std::string>* ignored);

}  // namespace ftd
