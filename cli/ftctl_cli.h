// ftctl's command line: the CLI11 app with its subcommand groups (model, adapter, and in service builds the job
// commands of job_cli.h), flag parsing and the one place errors become "ftctl: <message>" and an exit code.
#pragma once

#include "absl/strings/string_view.h"

namespace ftd {

// Runs ftctl with this command line; returns the process exit code (0 ok, 1 error, CLI11's code for usage;
// `watch` adds 2-4 for a job that did not succeed, see job_commands.h).
int RunFtctl(int argc, char** argv);

// Prints "ftctl: <message>" on stderr as one line (newlines become spaces) and returns `exit_code`.
int ReportFailure(absl::string_view message, int exit_code = 1);

}  // namespace ftd
