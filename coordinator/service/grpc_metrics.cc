// GrpcServerMetrics: the families, the per-method children made on first use, and the interceptor that times each
// call from its creation to PRE_SEND_STATUS.
#include "coordinator/service/grpc_metrics.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/support/interceptor.h"

namespace ftd {
namespace {

// The method label of a call: the path without its leading '/' ("ftd.v1.JobService/GetJob"), or "unknown" for a
// method no service registered. gRPC serves those through a generic context (the callback server's, once any
// callback service such as the health service is registered; the async one otherwise), under the path the client
// chose; a sync-only server names its unknown-method handler "unknown" already.
std::string MethodLabel(grpc::experimental::ServerRpcInfo& info) {
  grpc::ServerContextBase* context = info.server_context();
  if (dynamic_cast<grpc::GenericCallbackServerContext*>(context) != nullptr ||
      dynamic_cast<grpc::GenericServerContext*>(context) != nullptr || info.method() == nullptr) {
    return "unknown";
  }
  absl::string_view method = info.method();
  absl::ConsumePrefix(&method, "/");
  return std::string(method);
}

// One per call, made and destroyed by gRPC; Intercept runs on whichever thread carries a batch of the call, one
// batch at a time.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcServerMetrics& metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), start_(metrics.Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!recorded_ &&
        methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      recorded_ = true;
      metrics_.Handled(method_, methods->GetSendStatus().error_code(), metrics_.Now() - start_);
    }
    methods->Proceed();
  }

 private:
  GrpcServerMetrics& metrics_;
  const std::string method_;
  const absl::Time start_;
  bool recorded_ = false;
};

class MetricsInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(GrpcServerMetrics& metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, MethodLabel(*info));  // gRPC owns it.
  }

 private:
  GrpcServerMetrics& metrics_;
};

}  // namespace

std::string GrpcCodeName(grpc::StatusCode code) {
  // absl's codes are gRPC's, number for number, and absl names them canonically.
  const int number = static_cast<int>(code);
  if (number < 0 || number > 16) return "UNKNOWN";
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(number));
}

absl::StatusOr<std::unique_ptr<GrpcServerMetrics>> GrpcServerMetrics::Create(MetricsRegistry& registry,
                                                                            std::function<absl::Time()> clock) {
  ASSIGN_OR_RETURN(CounterFamily * handled,
                   registry.AddCounter("ftd_grpc_server_handled_total",
                                       "gRPC calls the server completed, by method and status code.",
                                       {"method", "code"}));
  // 0.5 ms .. 262 s in doublings; longer calls (watch streams) land in +Inf.
  ASSIGN_OR_RETURN(HistogramFamily * seconds,
                   registry.AddHistogram("ftd_grpc_server_handling_seconds",
                                         "gRPC calls from reaching the server to their status being sent.",
                                         {"method"}, ExponentialBuckets(0.0005, 2, 20)));
  return std::unique_ptr<GrpcServerMetrics>(new GrpcServerMetrics(std::move(clock), handled, seconds));
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> GrpcServerMetrics::InterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(*this);
}

void GrpcServerMetrics::Handled(absl::string_view method, grpc::StatusCode code, absl::Duration elapsed) {
  int number = static_cast<int>(code);
  if (number < 0 || number >= kCodes) number = static_cast<int>(grpc::StatusCode::UNKNOWN);
  Counter* counter = nullptr;
  Histogram* histogram = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto it = methods_.find(method);
    if (it == methods_.end()) {
      MethodSeries series;
      absl::StatusOr<Histogram*> child = seconds_->WithLabels({std::string(method)});
      series.seconds = child.ok() ? *child : nullptr;  // One label, one value: cannot fail.
      it = methods_.emplace(std::string(method), series).first;
    }
    Counter*& slot = it->second.handled[number];
    if (slot == nullptr) {
      absl::StatusOr<Counter*> child =
          handled_->WithLabels({std::string(method), GrpcCodeName(static_cast<grpc::StatusCode>(number))});
      if (child.ok()) slot = *child;
    }
    counter = slot;
    histogram = it->second.seconds;
  }
  if (counter != nullptr) counter->Increment();
  if (histogram != nullptr) histogram->Observe(absl::ToDoubleSeconds(elapsed));
}

}  // namespace ftd
