// ftctl's command line: the CLI11 app with its subcommand groups (model, adapter), flag parsing and the one
// place errors become "ftctl: <message>" and exit code 1.
#pragma once

namespace ftd {

// Runs ftctl with this command line; returns the process exit code (0 ok, 1 error, CLI11's code for usage).
int RunFtctl(int argc, char** argv);

}  // namespace ftd
