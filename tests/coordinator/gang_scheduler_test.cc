// The scheduler's rules on snapshots: a gang is placed whole or not at all, priority then fair share then FIFO,
// head-of-line blocking per device kind, tightest fit, busy slots untouched; the submit-time check names the
// estimate; the memory estimate counts Llama-3.2-1B's parameters and PEFT's LoRA parameters exactly.
#include <map>
#include <string>
#include <vector>

#include "coordinator/scheduler/gang_scheduler.h"
#include "coordinator/scheduler/memory_estimate.h"
#include "gtest/gtest.h"

namespace ftd {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

std::vector<WorkerSlot> Slots(int cpu, int cuda, int64_t memory = 16 * kGiB) {
  std::vector<WorkerSlot> slots;
  for (int i = 0; i < cpu; ++i) slots.push_back({"workers/cpu" + std::to_string(i), DeviceKind::kCpu, memory, false});
  for (int i = 0; i < cuda; ++i) slots.push_back({"workers/gpu" + std::to_string(i), DeviceKind::kCuda, memory, false});
  return slots;
}

QueuedJob Job(const std::string& name, int32_t world, int64_t sequence, const std::string& user = "alice",
              int32_t priority = 0, DeviceKind kind = DeviceKind::kCpu, int64_t memory = kGiB) {
  return QueuedJob{"jobs/" + name, user, priority, sequence, world, kind, memory};
}

std::vector<std::string> Jobs(const std::vector<Placement>& placements) {
  std::vector<std::string> out;
  for (const Placement& p : placements) out.push_back(p.job);
  return out;
}

TEST(GangSchedulerTest, AGangIsPlacedWholeOrNotAtAllAndBlocksItsKindOnly) {
  // Three CPU slots: the 4-rank job waits whole; the 1-rank CPU job behind it waits too (head of line); the GPU job
  // goes ahead.
  const std::vector<Placement> placed =
      ScheduleCycle({Job("big", 4, 1), Job("small", 1, 2), Job("gpu", 1, 3, "bob", 0, DeviceKind::kCuda)},
                    Slots(3, 1), {});
  ASSERT_EQ(Jobs(placed), std::vector<std::string>{"jobs/gpu"});
  EXPECT_EQ(placed[0].workers, std::vector<std::string>{"workers/gpu0"});
  // With four slots the gang goes, every rank on its own slot.
  const std::vector<Placement> now = ScheduleCycle({Job("big", 4, 1), Job("small", 1, 2)}, Slots(4, 0), {});
  ASSERT_EQ(Jobs(now), std::vector<std::string>{"jobs/big"});
  EXPECT_EQ(now[0].workers,
            (std::vector<std::string>{"workers/cpu0", "workers/cpu1", "workers/cpu2", "workers/cpu3"}));
}

TEST(GangSchedulerTest, PriorityThenFairShareThenFifo) {
  const std::vector<QueuedJob> queued = {Job("a1", 1, 1, "alice"), Job("a2", 1, 2, "alice"),
                                         Job("b1", 1, 3, "bob"), Job("urgent", 1, 4, "carol", 5)};
  // Alice already runs 2 ranks: bob's job goes before hers; carol's priority beats everyone.
  EXPECT_EQ(Jobs(ScheduleCycle(queued, Slots(4, 0), {{"alice", 2}})),
            (std::vector<std::string>{"jobs/urgent", "jobs/b1", "jobs/a1", "jobs/a2"}));
  // Nobody running: after carol, alice's first (oldest), then bob's (alice now has one running), then alice's.
  EXPECT_EQ(Jobs(ScheduleCycle(queued, Slots(4, 0), {})),
            (std::vector<std::string>{"jobs/urgent", "jobs/a1", "jobs/b1", "jobs/a2"}));
  // Two slots: only the first two in that order.
  EXPECT_EQ(Jobs(ScheduleCycle(queued, Slots(2, 0), {})), (std::vector<std::string>{"jobs/urgent", "jobs/a1"}));
}

TEST(GangSchedulerTest, TightestFittingFreeSlotsAndNeverABusyOne) {
  std::vector<WorkerSlot> slots = {{"workers/w-big", DeviceKind::kCuda, 80 * kGiB, false},
                                   {"workers/w-busy", DeviceKind::kCuda, 24 * kGiB, true},
                                   {"workers/w-mid", DeviceKind::kCuda, 24 * kGiB, false},
                                   {"workers/w-small", DeviceKind::kCuda, 8 * kGiB, false}};
  const std::vector<Placement> placed =
      ScheduleCycle({Job("j", 1, 1, "u", 0, DeviceKind::kCuda, 20 * kGiB),
                     Job("k", 1, 2, "u", 0, DeviceKind::kCuda, 20 * kGiB),
                     Job("l", 1, 3, "u", 0, DeviceKind::kCuda, 20 * kGiB)},
                    slots, {});
  ASSERT_EQ(placed.size(), 2u);
  EXPECT_EQ(placed[0].workers, std::vector<std::string>{"workers/w-mid"});  // 24 GiB fits tighter than 80.
  EXPECT_EQ(placed[1].workers, std::vector<std::string>{"workers/w-big"});
}

TEST(GangSchedulerTest, SubmitCheckSaysWhyAJobCanNeverRun) {
  absl::StatusOr<MemoryEstimate> estimate = EstimateRankMemory(
      ModelShape{2048, 8192, 16, 32, 8, 64, 128256, true},
      TrainShape{EstimateMethod::kFull, DeviceKind::kCuda, 0, false, 4, 2048});
  ASSERT_TRUE(estimate.ok()) << estimate.status();
  QueuedJob job = Job("full", 2, 1, "u", 0, DeviceKind::kCuda, estimate->total_bytes);
  const std::vector<WorkerSlot> slots = {{"workers/a", DeviceKind::kCuda, 80 * kGiB, false},
                                         {"workers/b", DeviceKind::kCuda, 16 * kGiB, false},
                                         {"workers/c", DeviceKind::kCpu, 512 * kGiB, false}};
  const absl::Status status = CheckPlaceable(job, slots, *estimate);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("needs 2 cuda slots with ~"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("2 cuda slots are registered, 1 of them with enough memory"), absl::string_view::npos)
      << status;
  job.world_size = 1;
  EXPECT_TRUE(CheckPlaceable(job, slots, *estimate).ok());
}

TEST(MemoryEstimateTest, CountsParametersAsTransformersAndPeftDo) {
  // Llama-3.2-1B: transformers counts 1,235,814,400 parameters; PEFT's LoRA r=16 on all linear layers trains
  // 11,272,192 of them, r=8 on q_proj and v_proj 851,968.
  const ModelShape llama{2048, 8192, 16, 32, 8, 64, 128256, true};
  absl::StatusOr<MemoryEstimate> all = EstimateRankMemory(llama, {EstimateMethod::kLora, DeviceKind::kCuda, 16, true, 1, 2048});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->parameters, 1235814400);
  EXPECT_EQ(all->trainable_parameters, 11272192);
  absl::StatusOr<MemoryEstimate> qv = EstimateRankMemory(llama, {EstimateMethod::kLora, DeviceKind::kCuda, 8, false, 1, 2048});
  ASSERT_TRUE(qv.ok());
  EXPECT_EQ(qv->trainable_parameters, 851968);
  // bf16 weights on the GPU, 16 bytes per trained parameter, and more for full fine-tuning than LoRA than QLoRA.
  EXPECT_EQ(all->weight_bytes, int64_t{2} * 1235814400);
  EXPECT_EQ(all->trained_bytes, int64_t{16} * 11272192);
  absl::StatusOr<MemoryEstimate> full = EstimateRankMemory(llama, {EstimateMethod::kFull, DeviceKind::kCuda, 0, false, 1, 2048});
  absl::StatusOr<MemoryEstimate> qlora = EstimateRankMemory(llama, {EstimateMethod::kQlora, DeviceKind::kCuda, 16, true, 1, 2048});
  ASSERT_TRUE(full.ok() && qlora.ok());
  EXPECT_GT(full->total_bytes, all->total_bytes);
  EXPECT_GT(all->total_bytes, qlora->total_bytes);
  EXPECT_EQ(EstimateRankMemory(llama, {EstimateMethod::kLora, DeviceKind::kCuda, 0, true, 1, 2048}).status().message(),
            "lora_r must be > 0, got 0");
  EXPECT_EQ(EstimateRankMemory(ModelShape{}, TrainShape{}).status().message(), "hidden_size must be > 0, got 0");
}

}  // namespace
}  // namespace ftd
