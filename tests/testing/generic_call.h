// GenericUnaryCall: one unary gRPC call by method path with raw request bytes, through the generic stub, for tests
// that call services whose protos Debian's gRPC does not install (grpc.health.v1, reflection) or send bytes no
// generated stub would. Header-only; links gRPC::grpc++.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

namespace ftd {

// Calls `method` (e.g. "/grpc.health.v1.Health/Check") on `channel` with `request_bytes` (empty: an empty message)
// and a 20 s deadline; `response_bytes`, if given, gets the response's wire bytes.
inline grpc::Status GenericUnaryCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                                     const std::string& request_bytes = "", std::string* response_bytes = nullptr) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::CompletionQueue queue;
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
      stub.PrepareUnaryCall(&context, method, request, &queue);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  if (!queue.Next(&tag, &ok) || !ok) return grpc::Status(grpc::StatusCode::INTERNAL, "completion queue failed");
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (response_bytes != nullptr) {
    response_bytes->clear();
    std::vector<grpc::Slice> slices;
    if (status.ok() && response.Dump(&slices).ok()) {
      for (const grpc::Slice& piece : slices) {
        response_bytes->append(reinterpret_cast<const char*>(piece.begin()), piece.size());
      }
    }
  }
  return status;
}

}  // namespace ftd
