// SubmitJob's placement check: the per-rank memory estimate of a job (from base_model's config.json and the
// resolved spec) and whether any registered worker could ever hold it. A job no registered worker could hold is
// refused at submit rather than left queued forever; with no worker registered yet it is accepted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/scheduler/gang_scheduler.h"
#include "coordinator/scheduler/memory_estimate.h"
#include "coordinator/store/coordinator_store.h"
#include "ftd/v1/job_spec.pb.h"
#include "model/model_config.h"

namespace ftd {

// The registered workers' slots as the scheduler sees them: one per GPU (its memory), or, for a worker without
// GPUs, one CPU slot with cpu.memory_bytes. Named "workers/{id}"; none is busy.
std::vector<WorkerSlot> WorkerSlotsOf(const std::vector<StoredWorker>& workers);

ModelShape ModelShapeOf(const LlamaConfig& config);

// The estimate's inputs from a spec with the defaults applied. LoRA targets other than q_proj and v_proj count as
// all-linear: an upper bound, so the submit check never refuses a job because of them.
TrainShape TrainShapeOf(const ftd::v1::JobSpec& resolved);

struct SubmitPlacement {
  MemoryEstimate estimate;
  int64_t workers_registered = 0;
  // For the Submitted event: the estimate and what the registered workers offer.
  std::string summary;
};

// Reads resolved.base_model's config.json and estimates a rank's memory. INVALID_ARGUMENT naming spec.base_model
// when the config cannot be read or is not a supported Llama-family config; FAILED_PRECONDITION (CheckPlaceable's,
// with the estimate) when workers are registered and too few slots of the job's device are large enough.
absl::StatusOr<SubmitPlacement> CheckSubmitPlacement(const ftd::v1::JobSpec& resolved,
                                                     const std::vector<StoredWorker>& workers);

}  // namespace ftd
