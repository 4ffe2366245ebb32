// CoordinatorConnection: a worker's channel to the coordinator's WorkerService: the stub, the bearer token on every
// call, per-call deadlines, and the one place a grpc::Status becomes an absl::Status on the worker side.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ftd/v1/worker_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ftd {

struct CoordinatorConnectionOptions {
  // "host:port" of ftd's gRPC endpoint.
  std::string address;
  // Sent as `authorization: Bearer <token>` on every call; empty sends none.
  std::string token;
  // TLS (common/service_channel): the CA that signed the coordinator's certificate (non-empty turns TLS on), and
  // this worker's client certificate and key when the coordinator asks for one.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
};

// What a rank process inherits from `ftd-worker serve` through its environment: FTD_TOKEN, FTD_TLS_CA, FTD_TLS_CERT
// and FTD_TLS_KEY (the address travels in --rendezvous). ConnectionEnvironment makes the "NAME=value" entries.
CoordinatorConnectionOptions ConnectionOptionsFromEnvironment(std::string address);
std::vector<std::string> ConnectionEnvironment(const CoordinatorConnectionOptions& options);

// Thread-safe (gRPC stubs are); connects lazily, so Create succeeds while the coordinator is down.
class CoordinatorConnection {
 public:
  static absl::StatusOr<std::unique_ptr<CoordinatorConnection>> Create(CoordinatorConnectionOptions options);

  ftd::v1::WorkerService::Stub& stub() { return *stub_; }
  const CoordinatorConnectionOptions& options() const { return options_; }

  // A fresh context; with a positive `timeout`, that deadline. The channel adds the token to every call.
  std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout) const;

 private:
  CoordinatorConnection(CoordinatorConnectionOptions options, std::shared_ptr<grpc::Channel> channel);
  const CoordinatorConnectionOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ftd::v1::WorkerService::Stub> stub_;
};

// The call's status with the same code and "<what>: <message>".
absl::Status FromGrpc(const grpc::Status& status, absl::string_view what);

}  // namespace ftd
