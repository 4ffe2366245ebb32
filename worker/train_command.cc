// RunTrainCommand: YAML -> TrainConfig -> (rendezvous, collective, checkpoint store) -> RunTraining on the CPU
// backend, with the step log as JSON lines and rank 0's result.json.
#include "worker/train_command.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kernels/kernels.h"
#include "model/file_io.h"
#include "nlohmann/json.hpp"
#include "worker/checkpoint_store_spec.h"
#include "worker/collective/rank_collective.h"
#include "worker/collective/rendezvous_store.h"
#include "worker/rendezvous_store_spec.h"
#include "worker/train/train_config.h"
#include "worker/train/trainer.h"

namespace ftd {
namespace {

using json = nlohmann::json;

json EvalToJson(const EvalPoint& e) {
  return {{"step", e.step}, {"task_val_loss", e.task_val_loss}, {"general_ppl", e.general_ppl}};
}

// What the run ended as, for scripts and the coordinator: DIR/result.json.
absl::Status WriteResult(const std::string& output_dir, const TrainSummary& summary) {
  json evals = json::array();
  for (const EvalPoint& e : summary.evals) evals.push_back(EvalToJson(e));
  json result = {{"state", summary.early_stopped ? "EARLY_STOPPED" : "SUCCEEDED"},
                 {"steps", summary.steps},
                 {"resumed_from_step", summary.resumed_from_step},
                 {"examples", summary.examples},
                 {"final_loss", summary.final_loss},
                 {"evals", evals}};
  if (summary.best.has_value()) result["best"] = EvalToJson(*summary.best);
  return WriteFileAtomically(JoinPath(output_dir, "result.json"), {AsBytes(result.dump(2) + "\n")});
}

absl::Status TrainFromOptions(const TrainCommandOptions& options, std::ostream& out) {
  ASSIGN_OR_RETURN(std::string yaml, ReadFileToString(options.config_path));
  std::vector<std::string> ignored;
  ASSIGN_OR_RETURN_CONTEXT(TrainConfig config, ParseTrainConfigYaml(yaml, &ignored), options.config_path);
  const int world_size = options.world_size > 0 ? options.world_size : static_cast<int>(config.world_size);
  if (world_size != config.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("--world-size ", world_size, " but the job spec's world_size is ",
                                                   config.world_size));
  }
  if (options.rank < 0 || options.rank >= world_size) {
    return absl::InvalidArgumentError(absl::StrCat("--rank ", options.rank, " is outside 0..", world_size - 1));
  }
  if (world_size > 1 && options.rendezvous.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("world_size ", world_size, " needs --rendezvous file:DIR"));
  }
  // Before anything is written: a machine without the device refuses the config as it stands.
  ASSIGN_OR_RETURN_CONTEXT(Backend * backend, GetBackend(TrainDeviceName(config.device)),
                           absl::StrCat("device: ", TrainDeviceName(config.device)));
  if (options.collective_timeout_s <= 0) {
    return absl::InvalidArgumentError("--collective-timeout must be > 0 seconds");
  }
  if (!ignored.empty() && options.rank == 0) {
    out << "note: ignored here (only the coordinator uses them): " << absl::StrJoin(ignored, ", ") << "\n";
  }
  std::error_code ec;
  std::filesystem::create_directories(options.output_dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("--output ", options.output_dir, ": ", ec.message()));
  std::string log_path = options.log_path;
  if (log_path.empty()) {
    log_path = JoinPath(options.output_dir, options.rank == 0 ? std::string("train_log.jsonl")
                                                              : absl::StrCat("train_log.rank", options.rank, ".jsonl"));
  }
  std::ofstream log(log_path, std::ios::app);
  if (!log) return absl::InvalidArgumentError(absl::StrCat("cannot write the step log ", log_path));

  TrainRunOptions run;
  run.output_dir = options.output_dir;
  run.backend = backend;
  run.collective_timeout = absl::Seconds(options.collective_timeout_s);
  std::unique_ptr<CheckpointStore> checkpoints;
  if (options.rank == 0) {
    const std::string spec =
        options.checkpoints.empty() ? DefaultCheckpointStoreSpec(options.output_dir) : options.checkpoints;
    ASSIGN_OR_RETURN_CONTEXT(checkpoints, OpenCheckpointStoreSpec(spec), absl::StrCat("checkpoints ", spec));
    run.checkpoints = checkpoints.get();
  }
  std::unique_ptr<Collective> collective;
  if (world_size > 1) {
    ASSIGN_OR_RETURN(std::unique_ptr<RendezvousStore> store, OpenRendezvousStoreSpec(options.rendezvous));
    RankCollectiveOptions connect;
    connect.rank = options.rank;
    connect.world_size = world_size;
    connect.prefix = config.name.empty() ? "train" : config.name;
    connect.connect_timeout = run.collective_timeout;
    ASSIGN_OR_RETURN_CONTEXT(collective,
                             config.device == TrainDevice::kCuda ? ConnectGpuCollective(connect, *store)
                                                                 : ConnectCpuCollective(connect, *store),
                             absl::StrCat("rank ", options.rank, " of ", world_size, " connecting"));
    run.collective = collective.get();
  }
  run.peak_flops = options.peak_flops;
  run.on_step = [&](const TrainStepLog& s) {
    json line = {{"step", s.step},
                 {"total_steps", s.total_steps},
                 {"epoch", s.epoch},
                 {"loss", s.loss},
                 {"lr", s.lr},
                 {"grad_norm", s.grad_norm},
                 {"tokens", s.tokens},
                 {"targets", s.targets},
                 {"seconds", s.seconds},
                 {"data_seconds", s.data_seconds},
                 {"allreduce_seconds", s.allreduce_seconds},
                 {"model_flops", s.model_flops}};
    if (s.mfu.has_value()) line["mfu"] = *s.mfu;
    if (s.device_memory_peak_bytes.has_value()) line["device_memory_peak_bytes"] = *s.device_memory_peak_bytes;
    log << line.dump() << "\n" << std::flush;
    if (options.json) out << line.dump() << "\n" << std::flush;
  };
  run.on_eval = [&](const TrainEvalLog& e) {
    json line = EvalToJson(e.point);
    line["eval"] = true;
    if (e.general_ppl_limit.has_value()) line["general_ppl_limit"] = *e.general_ppl_limit;
    log << line.dump() << "\n" << std::flush;
    if (options.json) out << line.dump() << "\n" << std::flush;
  };
  run.on_checkpoint = [&](const std::string& name, int64_t step, bool best) {
    if (options.json) out << json{{"checkpoint", name}, {"step", step}, {"best", best}}.dump() << "\n" << std::flush;
  };
  run.on_note = [&](const std::string& text) {
    if (!options.json || text.rfind("step ", 0) != 0) out << text << "\n" << std::flush;
  };
  ASSIGN_OR_RETURN(TrainSummary summary, RunTraining(config, run));
  if (options.rank == 0) RETURN_IF_ERROR_CONTEXT(WriteResult(options.output_dir, summary), "writing result.json");
  out << (summary.early_stopped ? "EARLY_STOPPED after " : "trained ") << summary.steps << " steps on "
      << summary.examples << " examples; final loss " << summary.final_loss << "\n";
  return absl::OkStatus();
}

}  // namespace

absl::Status RunTrainCommand(const TrainCommandOptions& options, std::ostream& out) {
  const absl::Status status = TrainFromOptions(options, out);
  if (!status.ok() && !options.error_path.empty()) {
    const json error = {{"code", static_cast<int>(status.code())},
                        {"code_name", absl::StatusCodeToString(status.code())},
                        {"message", std::string(status.message())}};
    if (absl::Status written = WriteFileAtomically(options.error_path, {AsBytes(error.dump() + "\n")});
        !written.ok()) {
      out << "note: cannot write the error file " << options.error_path << ": " << written.message() << "\n";
    }
  }
  return status;
}

}  // namespace ftd
