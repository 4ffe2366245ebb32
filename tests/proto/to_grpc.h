// ToGrpc: the one place an absl::Status becomes a grpc::Status. It lives with the test server for now and
// moves to the coordinator's service layer (the only code that includes gRPC headers) when that exists.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace ftd {

// Keeps the code and the message; drops absl payloads (nothing in ftd attaches any yet).
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace ftd
