// `ftd-worker serve`: one declaration, a definition per build: serve_subcommand_full.cc runs the WorkerAgent
// (worker/service); the compute-only build's explains that serving needs the full build.
#pragma once

#include <functional>

#include "CLI/CLI.hpp"

namespace ftd {

// Adds the `serve` subcommand and its flags to `app`; the returned function runs it (call it after parsing, when
// the subcommand was chosen) and returns the exit code.
struct ServeSubcommand {
  CLI::App* command = nullptr;
  std::function<int()> run;
};
ServeSubcommand AddServeSubcommand(CLI::App& app);

}  // namespace ftd
