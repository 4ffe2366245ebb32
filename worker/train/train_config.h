// The single-process trainer's configuration: the job-spec keys it acts on (DESIGN.md "Job spec", proto/ftd/v1/
// job_spec.proto), as a plain struct, read from the same YAML a user submits with `ftctl submit`. A plain struct
// and yaml-cpp rather than the JobSpec proto so that `ftd-worker train` builds with FTD_SERVICE=OFF (no
// protobuf); the coordinator path converts a JobSpec into this struct.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/peft_adapter.h"
#include "worker/data/chat_template.h"
#include "worker/train/dataset.h"
#include "worker/train/lr_schedule.h"

namespace ftd {

// kQlora: LoRA over the base's projections NF4-quantised at load (or as stored, for a bitsandbytes 4-bit base).
enum class TrainMethod { kLora, kQlora, kFull };

// Whether `method` trains an adapter (lora, qlora) rather than every weight (full); "lora" | "qlora" | "full".
inline bool TrainsAdapter(TrainMethod method) { return method != TrainMethod::kFull; }
const char* TrainMethodName(TrainMethod method);

struct TrainDataset {
  std::string path;  // JSONL.
  RecordFormat format = RecordFormat::kAuto;  // Job spec `type`: auto, text, prompt_completion, chat_template.
};

// General text mixed into training against forgetting (job spec `rehearsal`); see DrawRehearsal in dataset.h.
struct TrainRehearsal {
  std::string path;    // JSONL `text` records (a path ending in .jsonl), or plain text.
  double ratio = 0.1;  // Fraction of the training sequences drawn from it, in [0, 1).
};

// The general-perplexity guardrail (job spec `early_stopping`); see common/early_stop.h.
struct TrainEarlyStopping {
  std::string general_eval_dataset;  // JSONL `text` records, or plain text (one document).
  double general_ppl_max_rise = 0.1;
  int patience = 2;
};

// Defaults are the job spec's (common/job_spec_defaults.cc).
enum class TrainDevice { kCpu, kCuda };

// "cpu" / "cuda": the compute backend's registered name.
const char* TrainDeviceName(TrainDevice device);

struct TrainConfig {
  std::string name;
  std::string base_model;  // Hugging Face model directory.
  TrainMethod method = TrainMethod::kLora;
  LoraConfig lora = DefaultJobLoraConfig();  // r 8, alpha 8, dropout 0, q_proj + v_proj, no rsLoRA.
  // qlora: the absmax of the NF4 blocks double-quantised (bnb_4bit_use_double_quant, default true as in QLoRA).
  bool double_quant = true;
  std::vector<TrainDataset> datasets;
  double val_set_size = 0;     // Fraction of the examples held out for the task validation loss, in [0, 1).
  std::optional<TrainRehearsal> rehearsal;
  int64_t sequence_len = 2048;
  // Pack several examples into each sequence_len row, each attending only to itself (positions restart per
  // example); micro_batch_size then counts rows.
  bool sample_packing = false;
  // What `messages` records are rendered with; required when a dataset has type chat_template (a messages
  // record in an auto dataset without one fails its load).
  std::optional<ChatTemplate> chat_template;
  // Malformed JSONL lines a dataset may have, as a fraction of its lines in [0, 1]; 0: any malformed line fails.
  double max_bad_line_fraction = 0.01;
  int64_t micro_batch_size = 1;
  int64_t gradient_accumulation_steps = 1;
  double num_epochs = 1.0;
  int64_t max_steps = 0;  // > 0 overrides num_epochs.
  double learning_rate = 2e-4;
  LrSchedule lr_scheduler = LrSchedule::kCosine;
  int64_t warmup_steps = 0;
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;
  bool gradient_checkpointing = false;  // Activation recompute per layer (LlamaModel::set_recompute_activations).
  uint64_t seed = 42;
  int64_t eval_steps = 50;     // Guardrail evals every eval_steps optimiser steps (and at step 0).
  int64_t save_steps = 100;    // A checkpoint every save_steps steps (and at the last step).
  int64_t save_total_limit = 2;  // Checkpoints kept besides the best (0: all).
  std::optional<TrainEarlyStopping> early_stopping;
  int64_t world_size = 1;      // Ranks the job runs as; `ftd-worker train --world-size` must agree.
  // Where the ranks compute: the "cpu" backend (Gloo between ranks) or "cuda" (NCCL between ranks). The job spec's
  // default is cuda; a YAML without the key (a hand-written `ftd-worker train` config) trains on the CPU.
  TrainDevice device = TrainDevice::kCpu;

  static LoraConfig DefaultJobLoraConfig();
};

// Every top-level key of the job spec, in proto order: the ones ParseTrainConfigYaml acts on, ignores (placement,
// evaluation and checkpoint keys that only the coordinator uses) or refuses (features the single-process trainer
// does not have yet). A test checks this list against the JobSpec proto so that the two cannot drift apart.
const std::vector<std::string>& JobSpecKeys();

// Parses job-spec YAML. INVALID_ARGUMENT as "key: reason" for an unknown key or a bad value (including a
// chat_template dataset without a chat_template). Keys it ignores are returned in `ignored` (may be null) so the
// caller can say so.
absl::StatusOr<TrainConfig> ParseTrainConfigYaml(absl::string_view yaml_text, std::vector<std::string>* ignored);

}  // namespace ftd
