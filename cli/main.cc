// ftctl entry point: hands the command line to the ftctl CLI.
#include "cli/ftctl_cli.h"

int main(int argc, char** argv) { return ftd::RunFtctl(argc, argv); }
