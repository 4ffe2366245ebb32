// RunFtctl: the ftctl binary run as a user would, against one server, with no FTD_* environment and a scratch
// HOME (so no config file is found): its exit code and its stdout and stderr together.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"

namespace ftd {

inline int RunFtctl(const std::string& ftctl, const std::string& home, const std::string& server,
                    const std::string& args, std::string* out) {
  const std::string cmd = absl::StrCat("env -u FTD_SERVER -u FTD_TOKEN -u FTD_CONFIG HOME=", home, " ", ftctl, " ",
                                       args, " --server ", server, " </dev/null 2>&1");
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out->append(buf, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace ftd
