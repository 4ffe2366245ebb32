// Shared by auth.cc and auth_credentials.cc only: reading the token and PEM files, and the plain-text server
// credentials that run a BearerTokenProcessor through the gRPC core.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "coordinator/service/auth.h"
#include "grpcpp/security/server_credentials.h"

namespace ftd::auth_internal {

// The file's bytes; NOT_FOUND / PERMISSION_DENIED / FAILED_PRECONDITION "WHAT PATH: <strerror>" otherwise.
absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what);

// Plain-text server credentials whose every call goes through `processor` (see auth.h on why not
// InsecureServerCredentials).
std::shared_ptr<grpc::ServerCredentials> InsecureCredentialsWithProcessor(
    std::shared_ptr<BearerTokenProcessor> processor);

}  // namespace ftd::auth_internal
