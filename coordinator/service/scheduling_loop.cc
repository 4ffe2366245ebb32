// SchedulingLoop::RunCycle: store snapshot -> ScheduleCycle -> SCHEDULED jobs and RunRank commands (see
// scheduling_loop.h).
#include "coordinator/service/scheduling_loop.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/jobs/job_lifecycle.h"
#include "coordinator/scheduler/gang_scheduler.h"
#include "coordinator/scheduler/memory_estimate.h"
#include "coordinator/service/checkpoint_transfer.h"
#include "coordinator/service/job_metrics.h"
#include "coordinator/service/job_updates.h"
#include "coordinator/service/placement_check.h"
#include "coordinator/service/resource_names.h"
#include "model/model_config.h"

namespace ftd {
namespace {

absl::StatusOr<int64_t> EstimateFromConfig(const v1::JobSpec& resolved) {
  ASSIGN_OR_RETURN(const LlamaConfig config, LoadLlamaConfig(resolved.base_model()));
  ASSIGN_OR_RETURN(const MemoryEstimate estimate, EstimateRankMemory(ModelShapeOf(config), TrainShapeOf(resolved)));
  return estimate.total_bytes;
}

// What the scheduler sees of a job: its device, its gang and its estimate.
DeviceKind KindOf(const v1::JobSpec& resolved) {
  return resolved.device() == v1::DEVICE_CPU ? DeviceKind::kCpu : DeviceKind::kCuda;
}

// "rank 0 on workers/w-1 (cpu), rank 1 on workers/w-2 (cpu)".
std::string DescribePlacement(const std::vector<v1::RankPlacement>& ranks) {
  return absl::StrJoin(ranks, ", ", [](std::string* out, const v1::RankPlacement& rank) {
    absl::StrAppend(out, "rank ", rank.rank(), " on ", rank.worker(), " (", rank.device(), ")");
  });
}

}  // namespace

SchedulingLoop::SchedulingLoop(CoordinatorStore& store, JobEvents& events, CoordinatorWorkerService& workers,
                               std::function<absl::Time()> clock, SchedulingLoopOptions options)
    : store_(store), events_(events), workers_(workers), clock_(std::move(clock)), options_(std::move(options)) {}

absl::StatusOr<int64_t> SchedulingLoop::RankMemory(const v1::Job& job) {
  auto it = rank_memory_.find(job.name());
  if (it == rank_memory_.end()) {
    absl::StatusOr<int64_t> bytes =
        options_.rank_memory ? options_.rank_memory(job.resolved_spec()) : EstimateFromConfig(job.resolved_spec());
    if (!bytes.ok()) {
      FTD_LOG(WARNING) << "scheduler: " << job.name() << " stays queued, no memory estimate: " << bytes.status();
    }
    it = rank_memory_.emplace(job.name(), std::move(bytes)).first;
  }
  return it->second;
}

absl::StatusOr<int> SchedulingLoop::RunCycle() {
  absl::MutexLock lock(&mu_);
  const absl::Time cycle_start = absl::Now();
  absl::StatusOr<int> placed = Cycle();
  if (options_.metrics != nullptr) options_.metrics->SchedulingCycle(absl::ToDoubleSeconds(absl::Now() - cycle_start));
  return placed;
}

void SchedulingLoop::Wake() {
  absl::MutexLock lock(&wake_mu_);
  woken_ = true;
  wake_cv_.Signal();
}

bool SchedulingLoop::WaitForWake(absl::Duration timeout) {
  absl::MutexLock lock(&wake_mu_);
  // The wait is on the wall clock: it paces the daemon's loop, not the jobs' timeline.
  const absl::Time deadline = absl::Now() + timeout;
  while (!woken_) {
    if (wake_cv_.WaitWithDeadline(&wake_mu_, deadline)) break;
  }
  const bool woken = woken_;
  woken_ = false;
  return woken;
}

absl::StatusOr<int> SchedulingLoop::Cycle() {
  const absl::Time now = clock_();
  ASSIGN_OR_RETURN(const std::vector<v1::Job> jobs, ListUnfinishedJobs(store_));

  std::set<std::string> busy;
  std::map<std::string, int64_t> running_ranks;  // User -> ranks of theirs placed now: fair share's input.
  std::vector<QueuedJob> queued;
  std::map<std::string, const v1::Job*> queued_by_name;
  std::map<std::string, absl::StatusOr<int64_t>> still_queued_memory;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const v1::Job& job = jobs[i];
    if (job.state() != v1::JOB_STATE_QUEUED) {
      for (const v1::RankPlacement& rank : job.placement()) busy.insert(rank.worker());
      running_ranks[job.user()] += job.placement_size();
      continue;
    }
    absl::StatusOr<int64_t> bytes = RankMemory(job);
    still_queued_memory.emplace(job.name(), bytes);
    if (!bytes.ok()) continue;
    QueuedJob entry;
    entry.job = job.name();
    entry.user = job.user();
    entry.priority = job.resolved_spec().priority();
    entry.submit_sequence = static_cast<int64_t>(i);  // ListUnfinishedJobs is in creation order.
    entry.world_size = std::max(job.resolved_spec().world_size(), 1);
    entry.kind = KindOf(job.resolved_spec());
    entry.rank_memory_bytes = *bytes;
    queued.push_back(std::move(entry));
    queued_by_name[job.name()] = &job;
  }
  rank_memory_ = std::move(still_queued_memory);
  if (queued.empty()) return 0;

  const std::vector<std::string> live = workers_.PlaceableWorkers(now);
  const std::set<std::string> live_ids(live.begin(), live.end());
  ASSIGN_OR_RETURN(const std::vector<StoredWorker> stored, store_.ListWorkers());
  std::vector<StoredWorker> usable;
  std::map<std::string, const StoredWorker*> by_name;
  for (const StoredWorker& worker : stored) {
    if (live_ids.contains(worker.worker_id)) usable.push_back(worker);
  }
  for (const StoredWorker& worker : usable) by_name[absl::StrCat("workers/", worker.worker_id)] = &worker;
  std::vector<WorkerSlot> slots = WorkerSlotsOf(usable);
  for (WorkerSlot& slot : slots) slot.busy = busy.contains(slot.worker);

  const std::vector<Placement> placements = ScheduleCycle(queued, slots, running_ranks);
  int placed = 0;
  for (const Placement& placement : placements) {
    const v1::Job& job = *queued_by_name.at(placement.job);
    std::vector<v1::RankPlacement> ranks;
    std::map<std::string, int> gpus_taken;  // Worker -> GPUs of it given to this job's ranks so far.
    for (size_t rank = 0; rank < placement.workers.size(); ++rank) {
      const std::string& worker_name = placement.workers[rank];
      const v1::RegisterWorkerRequest& registration = by_name.at(worker_name)->registration;
      v1::RankPlacement& entry = ranks.emplace_back();
      entry.set_rank(static_cast<int32_t>(rank));
      entry.set_worker(worker_name);
      entry.set_host(registration.host());
      if (registration.gpus().empty()) {
        entry.set_device("cpu");
      } else {
        const int taken = gpus_taken[worker_name]++;
        entry.set_device(absl::StrCat("cuda:", registration.gpus(taken % registration.gpus_size()).index()));
      }
    }
    ASSIGN_OR_RETURN(const std::string job_id, ParseJobName(job.name(), "job"));
    // A restarted attempt resumes from the newest checkpoint rank 0 uploaded (none: a fresh start).
    ASSIGN_OR_RETURN(const std::unique_ptr<CheckpointStore> checkpoints, store_.Checkpoints(job_id));
    ASSIGN_OR_RETURN(const std::optional<std::string> newest, NewestStepCheckpoint(*checkpoints));
    const std::string resume = newest.has_value() ? absl::StrCat(job.name(), "/checkpoints/", *newest) : "";
    std::string message = DescribePlacement(ranks);
    if (!resume.empty()) absl::StrAppend(&message, "; resuming from ", resume);
    absl::StatusOr<v1::Job> stored_job = UpdateJobAndPublish(
        store_, events_, job_id, now, [&](v1::Job& current, std::vector<v1::JobEvent>& events) -> absl::Status {
          if (current.state() != v1::JOB_STATE_QUEUED) {
            return absl::AbortedError(
                absl::StrCat(current.name(), " left QUEUED (now ", v1::JobState_Name(current.state()), ")"));
          }
          RETURN_IF_ERROR(CheckTransition(v1::JOB_STATE_QUEUED, v1::JOB_STATE_SCHEDULED));
          current.clear_placement();
          for (const v1::RankPlacement& rank : ranks) *current.add_placement() = rank;
          current.set_resume_checkpoint(resume);
          RecordStateChange(current, events, v1::JOB_STATE_SCHEDULED, "Placed", message, now);
          return absl::OkStatus();
        });
    if (absl::IsAborted(stored_job.status())) {
      FTD_LOG(INFO) << "scheduler: not placing " << job.name() << ": " << stored_job.status().message();
      continue;
    }
    RETURN_IF_ERROR(stored_job.status());
    rank_memory_.erase(job.name());
    for (const v1::RankPlacement& rank : stored_job->placement()) {
      v1::WorkerCommand command;
      *command.mutable_run_rank() = RunRankFor(*stored_job, rank);
      if (!workers_.QueueCommand(rank.worker(), std::move(command))) {
        // Its lease ran out since the snapshot; the lost-rank handling will restart the job.
        FTD_LOG(WARNING) << "scheduler: " << rank.worker() << " lost its lease before rank " << rank.rank() << " of "
                         << job.name() << " was sent";
      }
    }
    FTD_LOG(INFO) << "scheduler: placed " << job.name() << ": " << message;
    if (options_.metrics != nullptr && stored_job->restart_count() == 0) {
      const absl::Time created =
          absl::FromUnixSeconds(job.create_time().seconds()) + absl::Nanoseconds(job.create_time().nanos());
      options_.metrics->QueueWait(absl::ToDoubleSeconds(now - created));
    }
    ++placed;
  }
  return placed;
}

}  // namespace ftd
