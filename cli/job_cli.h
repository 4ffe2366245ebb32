// The job commands' part of ftctl's command line. Two definitions, one per build, chosen by CMake: job_cli.cc
// (FTD_SERVICE=ON: submit, list, get, cancel, watch, logs, checkpoints over gRPC) and job_cli_compute.cc (the
// compute-only build: no job commands, so ftctl links no gRPC or protobuf there).
#pragma once

#include <functional>
#include <optional>

namespace CLI {
class App;
}  // namespace CLI

namespace ftd {

// Runs the job command the parsed command line chose and returns ftctl's exit code; nullopt when it chose none.
using JobCommandRunner = std::function<std::optional<int>()>;

// Adds the job subcommands and their flags to `app` (which must outlive the runner); call the runner after a
// successful app.parse().
JobCommandRunner AddJobCommands(CLI::App& app);

}  // namespace ftd
