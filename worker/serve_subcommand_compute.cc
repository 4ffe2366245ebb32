// `ftd-worker serve` in the compute-only build: a clear refusal.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "worker/serve_subcommand.h"

namespace ftd {

ServeSubcommand AddServeSubcommand(CLI::App& app) {
  ServeSubcommand serve;
  serve.command = app.add_subcommand("serve", "Join an ftd coordinator and run the ranks it assigns (full build)");
  serve.command->allow_extras();
  serve.run = [] {
    std::cerr << "ftd-worker serve: this ftd-worker was built without the service parts (FTD_SERVICE=OFF); use the "
                 "full build's ftd-worker\n";
    return 1;
  };
  return serve;
}

}  // namespace ftd
