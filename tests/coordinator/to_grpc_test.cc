// ToGrpc: the one absl::Status -> grpc::Status conversion keeps the code and the message.
#include "coordinator/service/to_grpc.h"

#include "gtest/gtest.h"

namespace ftd {
namespace {

TEST(ToGrpcTest, KeepsCodeAndMessage) {
  EXPECT_TRUE(ToGrpc(absl::OkStatus()).ok());
  const grpc::Status not_found = ToGrpc(absl::NotFoundError("job jobs/x not found"));
  EXPECT_EQ(not_found.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(not_found.error_message(), "job jobs/x not found");
  // Every canonical code maps to the gRPC code with the same number (both follow google.rpc.Code).
  for (int code = 1; code <= 16; ++code) {
    const grpc::Status converted = ToGrpc(absl::Status(static_cast<absl::StatusCode>(code), "m"));
    EXPECT_EQ(static_cast<int>(converted.error_code()), code);
  }
}

}  // namespace
}  // namespace ftd
