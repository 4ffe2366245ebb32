// ftd entry point: hands the command line to the coordinator daemon's application.
#include "coordinator/app/ftd_app.h"

int main(int argc, char** argv) { return ftd::RunFtd(argc, argv); }
