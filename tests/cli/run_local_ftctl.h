// RunLocalFtctl: the ftctl binary (FTCTL_PATH) run on local files as a user would, for the tests of its commands:
// exit code, stdout and stderr apart (RunCapturing: any shell command so).
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

// Runs the shell command `command` (its stderr already redirected to `err_path`), collecting its stdout, exit code
// and what it wrote to `err_path`.
inline FtctlResult RunCapturing(const std::string& command, const std::string& err_path) {
  FtctlResult r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err_path);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  return r;
}

// Runs `ftctl args` with `stdin_text` on stdin; `scratch` (an existing directory) holds the stdin and stderr files.
inline FtctlResult RunLocalFtctl(const std::string& ftctl, const std::string& args, const std::string& stdin_text,
                                 const std::string& scratch) {
  const std::string in = scratch + "/stdin", err = scratch + "/stderr";
  std::ofstream(in) << stdin_text;
  return RunCapturing(ftctl + " " + args + " <" + in + " 2>" + err, err);
}

}  // namespace ftd
