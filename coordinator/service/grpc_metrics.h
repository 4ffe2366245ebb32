// GrpcServerMetrics: the probe that counts and times every call a gRPC server handles, fed by a server interceptor
// (gRPC's experimental interceptor API, in Debian 12's gRPC 1.51) that the daemon registers on its ServerBuilder.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"

namespace ftd {

// Metrics:
//   ftd_grpc_server_handled_total{method,code}  counter, calls whose status the server sent; method as
//                                               "ftd.v1.JobService/SubmitJob", code as "OK", "NOT_FOUND", ...;
//   ftd_grpc_server_handling_seconds{method}    histogram, from the call reaching the C++ server (the interceptor is
//                                               made when a handler thread takes the call: for unary calls after
//                                               the request message arrived) to its status being sent. Streaming
//                                               calls are observed once, when they end, so a long watch stream adds
//                                               one long sample at its end and nothing while it runs.
//
// What is not seen. The interceptor sits in the C++ server, above the gRPC core's filters, so a call the core ends
// before any handler is matched never reaches it and is not counted:
//   - calls the auth metadata processor refuses (UNAUTHENTICATED, PERMISSION_DENIED; coordinator/service/auth.h):
//     the core's auth filter fails them before the call is published to the server;
//   - requests over the server's max receive size (RESOURCE_EXHAUSTED; kMaxRequestBytes): the core fails the
//     message before the handler sees it.
// tests/coordinator/grpc_metrics_test.cc pins both down, so a gRPC upgrade that changes either shows up there.
//
// Label bounds: a method the server does not implement (answered UNIMPLEMENTED) is labelled "unknown", never with
// the path the client sent, so clients cannot grow the series without bound.
//
// Lifecycle: Create over the daemon's registry (which must outlive it); hand InterceptorFactory() to
// grpc::ServerBuilder::experimental().SetInterceptorCreators before BuildAndStart; the probe must outlive the
// server (its interceptors point at it). Threading: every method is thread-safe; Handled runs on gRPC's threads.
class GrpcServerMetrics {
 public:
  // `clock` times calls; absl::Now by default (tests inject a fake one).
  static absl::StatusOr<std::unique_ptr<GrpcServerMetrics>> Create(
      MetricsRegistry& registry, std::function<absl::Time()> clock = [] { return absl::Now(); });

  // A factory whose interceptors report to this probe, one interceptor per call.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

  // Records one call that ended with `code` after `elapsed`. `method` is the label ("ftd.v1.JobService/GetJob").
  void Handled(absl::string_view method, grpc::StatusCode code, absl::Duration elapsed);

  absl::Time Now() const { return clock_(); }

 private:
  // gRPC's status codes are 0 (OK) .. 16 (UNAUTHENTICATED).
  static constexpr int kCodes = 17;
  struct MethodSeries {
    Histogram* seconds = nullptr;
    std::array<Counter*, kCodes> handled{};  // Made on a code's first use, so only codes seen are exposed.
  };
  GrpcServerMetrics(std::function<absl::Time()> clock, CounterFamily* handled, HistogramFamily* seconds)
      : clock_(std::move(clock)), handled_(handled), seconds_(seconds) {}

  const std::function<absl::Time()> clock_;
  CounterFamily* const handled_;
  HistogramFamily* const seconds_;
  absl::Mutex mu_;
  std::map<std::string, MethodSeries, std::less<>> methods_ ABSL_GUARDED_BY(mu_);
};

// The label for `code`: its canonical name ("OK", "INVALID_ARGUMENT", ...); "UNKNOWN" for a number outside 0..16.
std::string GrpcCodeName(grpc::StatusCode code);

}  // namespace ftd
