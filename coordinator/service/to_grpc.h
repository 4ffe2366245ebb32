// ToGrpc: the one place an absl::Status becomes a grpc::Status, in the coordinator's service layer (the only code
// that includes gRPC headers). The coordinator's JobService and the test JobService (tests/proto) both use it.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace ftd {

// Keeps the code and the message; drops absl payloads (nothing in ftd attaches any yet).
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace ftd
