// "host:port" flags of the daemons (gRPC and HTTP listen addresses): parsed once, the same way, with an error
// naming the flag.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ftd {

struct HostPort {
  std::string host;  // Without brackets for IPv6.
  int port = 0;
};

// "host:port" or "[v6]:port", the port 0..65535. INVALID_ARGUMENT naming `flag` otherwise.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view address, absl::string_view flag);

// "host:port" again, with brackets for an IPv6 host.
std::string JoinHostPort(const std::string& host, int port);

}  // namespace ftd
