// RunLocalFtctl: the ftctl binary (FTCTL_PATH) run on local files as a user would, for the tests of its model and
// adapter commands: exit code, stdout and stderr apart.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace ftd {

struct FtctlResult {
  int code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `ftctl args` with `stdin_text` on stdin; `scratch` (an existing directory) holds the stdin and stderr files.
inline FtctlResult RunLocalFtctl(const std::string& ftctl, const std::string& args, const std::string& stdin_text,
                                 const std::string& scratch) {
  const std::string in = scratch + "/stdin", err = scratch + "/stderr";
  std::ofstream(in) << stdin_text;
  const std::string cmd = ftctl + " " + args + " <" + in + " 2>" + err;
  FtctlResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  return r;
}

}  // namespace ftd
