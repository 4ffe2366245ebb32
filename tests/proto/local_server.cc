// StartLocalServer: ServerBuilder with "127.0.0.1:0" and selected_port.
#include "tests/proto/local_server.h"

#include "absl/status/status.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace ftd {

absl::StatusOr<LocalServer> StartLocalServer(grpc::Service* service) {
  LocalServer local;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &local.port);
  builder.RegisterService(service);
  local.server = builder.BuildAndStart();
  if (local.server == nullptr || local.port == 0) {
    return absl::UnavailableError("could not start a gRPC server on 127.0.0.1:0");
  }
  return local;
}

}  // namespace ftd
