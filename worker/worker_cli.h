// The ftd-worker command line: subcommands and their flags. Flags are parsed here and nowhere else.
#pragma once

namespace ftd {

// Parses argv, runs the chosen subcommand, returns the process exit code.
int RunWorkerCli(int argc, char** argv);

}  // namespace ftd
