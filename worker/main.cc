// ftd-worker entry point: hands the command line to the worker CLI.
#include "worker/worker_cli.h"

int main(int argc, char** argv) { return ftd::RunWorkerCli(argc, argv); }
