// ScheduleCycle / CheckPlaceable: sorting and a tightest-fit pick over a snapshot, no I/O.
#include "coordinator/scheduler/gang_scheduler.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace ftd {
namespace {

const char* KindName(DeviceKind kind) { return kind == DeviceKind::kCuda ? "cuda" : "cpu"; }

// The indices of `world` free slots of `kind` with at least `memory` bytes, tightest first; empty if too few.
std::vector<size_t> PickSlots(const std::vector<WorkerSlot>& slots, const std::vector<bool>& used, DeviceKind kind,
                              int64_t memory, int32_t world) {
  std::vector<size_t> fitting;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!used[i] && !slots[i].busy && slots[i].kind == kind && slots[i].memory_bytes >= memory) fitting.push_back(i);
  }
  if (static_cast<int64_t>(fitting.size()) < world) return {};
  std::sort(fitting.begin(), fitting.end(), [&](size_t a, size_t b) {
    return std::tie(slots[a].memory_bytes, slots[a].worker) < std::tie(slots[b].memory_bytes, slots[b].worker);
  });
  fitting.resize(static_cast<size_t>(world));
  return fitting;
}

}  // namespace

std::vector<Placement> ScheduleCycle(const std::vector<QueuedJob>& queued, const std::vector<WorkerSlot>& slots,
                                     const std::map<std::string, int64_t>& running_ranks) {
  std::vector<Placement> placements;
  std::vector<bool> used(slots.size(), false);
  std::map<std::string, int64_t> running = running_ranks;
  std::vector<const QueuedJob*> waiting;
  for (const QueuedJob& job : queued) waiting.push_back(&job);
  std::set<DeviceKind> blocked;
  // Fair share changes as jobs are placed, so the next job is chosen afresh each time.
  while (!waiting.empty()) {
    auto next = std::min_element(waiting.begin(), waiting.end(), [&](const QueuedJob* a, const QueuedJob* b) {
      const int64_t ra = running.count(a->user) ? running.at(a->user) : 0;
      const int64_t rb = running.count(b->user) ? running.at(b->user) : 0;
      return std::make_tuple(-a->priority, ra, a->submit_sequence) <
             std::make_tuple(-b->priority, rb, b->submit_sequence);
    });
    const QueuedJob& job = **next;
    waiting.erase(next);
    if (blocked.count(job.kind) > 0 || job.world_size < 1) continue;
    const std::vector<size_t> picked = PickSlots(slots, used, job.kind, job.rank_memory_bytes, job.world_size);
    if (picked.empty()) {
      blocked.insert(job.kind);  // Head of line: nothing behind it of this kind goes first.
      continue;
    }
    Placement placement;
    placement.job = job.job;
    for (size_t i : picked) {
      used[i] = true;
      placement.workers.push_back(slots[i].worker);
    }
    running[job.user] += job.world_size;
    placements.push_back(std::move(placement));
  }
  return placements;
}

absl::Status CheckPlaceable(const QueuedJob& job, const std::vector<WorkerSlot>& slots, const MemoryEstimate& estimate) {
  int64_t of_kind = 0, large_enough = 0;
  for (const WorkerSlot& slot : slots) {
    if (slot.kind != job.kind) continue;
    ++of_kind;
    if (slot.memory_bytes >= job.rank_memory_bytes) ++large_enough;
  }
  if (large_enough >= job.world_size) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "no registered workers could hold this job: it needs ", job.world_size, " ", KindName(job.kind),
      " slots with ", estimate.Describe(), "; ", of_kind, " ", KindName(job.kind), " slots are registered, ",
      large_enough, " of them with enough memory"));
}

}  // namespace ftd
