// StartLocalServer: one gRPC service on 127.0.0.1 with a kernel-chosen port, for hermetic tests and the
// stand-alone test server. Port 0 means parallel tests never collide.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "grpcpp/server.h"

namespace ftd {

struct LocalServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;  // The port the kernel picked.
};

// Builds and starts a server for `service` (not owned; must outlive the server). UNAVAILABLE if it cannot bind.
absl::StatusOr<LocalServer> StartLocalServer(grpc::Service* service);

}  // namespace ftd
