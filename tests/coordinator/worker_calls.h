// The WorkerService calls the coordinator tests make as a worker would: a CPU worker's registration, RegisterWorker
// and Heartbeat over a real stub, each with a 30 s deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "ftd/v1/worker_service.grpc.pb.h"
#include "gtest/gtest.h"

namespace ftd {

inline ftd::v1::RegisterWorkerRequest CpuRegistration(const std::string& host) {
  ftd::v1::RegisterWorkerRequest request;
  request.set_host(host);
  request.set_version("0.1.0");
  request.mutable_cpu()->set_cores(8);
  request.mutable_cpu()->set_memory_bytes(int64_t{8} << 30);
  return request;
}

// The new worker's name ("workers/w-N"); a failed call fails the test and returns "".
inline std::string RegisterCpuWorker(ftd::v1::WorkerService::Stub& stub, const std::string& host) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  ftd::v1::RegisterWorkerResponse response;
  const grpc::Status status = stub.RegisterWorker(&context, CpuRegistration(host), &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.worker();
}

// Whether the heartbeat went through and the lease is still valid.
inline bool HeartbeatWorker(ftd::v1::WorkerService::Stub& stub, const std::string& worker) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  ftd::v1::HeartbeatRequest request;
  request.set_worker(worker);
  ftd::v1::HeartbeatResponse response;
  return stub.Heartbeat(&context, request, &response).ok() && response.lease_valid();
}

}  // namespace ftd
