// RunTrainCommand: YAML -> TrainConfig -> RunTraining on the CPU backend, with the step log as JSON lines.
#include "worker/train_command.h"

#include <filesystem>
#include <fstream>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kernels/kernels.h"
#include "model/file_io.h"
#include "nlohmann/json.hpp"
#include "worker/train/train_config.h"
#include "worker/train/trainer.h"

namespace ftd {

absl::Status RunTrainCommand(const TrainCommandOptions& options, std::ostream& out) {
  ASSIGN_OR_RETURN(std::string yaml, ReadFileToString(options.config_path));
  std::vector<std::string> ignored;
  ASSIGN_OR_RETURN_CONTEXT(TrainConfig config, ParseTrainConfigYaml(yaml, &ignored), options.config_path);
  if (!ignored.empty()) {
    out << "note: ignored here (only the coordinator uses them): " << absl::StrJoin(ignored, ", ") << "\n";
  }
  std::error_code ec;
  std::filesystem::create_directories(options.output_dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("--output ", options.output_dir, ": ", ec.message()));
  const std::string log_path =
      options.log_path.empty() ? JoinPath(options.output_dir, "train_log.jsonl") : options.log_path;
  std::ofstream log(log_path, std::ios::trunc);
  if (!log) return absl::InvalidArgumentError(absl::StrCat("cannot write the step log ", log_path));

  ASSIGN_OR_RETURN(Backend * backend, GetBackend("cpu"));
  TrainRunOptions run;
  run.output_dir = options.output_dir;
  run.backend = backend;
  run.on_step = [&](const TrainStepLog& s) {
    const nlohmann::json line = {{"step", s.step},   {"total_steps", s.total_steps}, {"epoch", s.epoch},
                                 {"loss", s.loss},   {"lr", s.lr},                   {"grad_norm", s.grad_norm},
                                 {"tokens", s.tokens}, {"targets", s.targets},       {"seconds", s.seconds}};
    log << line.dump() << "\n" << std::flush;
    if (options.json) out << line.dump() << "\n" << std::flush;
  };
  run.on_note = [&](const std::string& text) {
    if (!options.json || text.rfind("step ", 0) != 0) out << text << "\n" << std::flush;
  };
  ASSIGN_OR_RETURN(TrainSummary summary, RunTraining(config, run));
  out << "trained " << summary.steps << " steps on " << summary.examples << " examples; final loss "
      << summary.final_loss << "\n";
  return absl::OkStatus();
}

}  // namespace ftd
