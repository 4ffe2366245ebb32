// AddJobCommands for the compute-only build (FTD_SERVICE=OFF): the job commands need gRPC, which this build
// leaves out, so ftctl keeps only its local model and adapter commands and says where the others are.
#include "cli/job_cli.h"

#include "CLI/CLI.hpp"

namespace ftd {

JobCommandRunner AddJobCommands(CLI::App& app) {
  app.footer("The job commands (submit, list, get, watch, logs, cancel, checkpoints) are not in this build: "
             "they need FTD_SERVICE=ON.");
  return [] { return std::optional<int>(); };
}

}  // namespace ftd
