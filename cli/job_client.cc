// JobClient over a generated JobService stub: deadline and bearer token on every call, FromGrpc for every status.
#include "cli/job_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/service_channel/client_channel.h"
#include "absl/strings/string_view.h"
#include "ftd/v1/job_service.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/status.h"

namespace ftd {
namespace {

absl::StatusCode ToAbslCode(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return absl::StatusCode::kOk;
    case grpc::StatusCode::CANCELLED: return absl::StatusCode::kCancelled;
    case grpc::StatusCode::UNKNOWN: return absl::StatusCode::kUnknown;
    case grpc::StatusCode::INVALID_ARGUMENT: return absl::StatusCode::kInvalidArgument;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return absl::StatusCode::kDeadlineExceeded;
    case grpc::StatusCode::NOT_FOUND: return absl::StatusCode::kNotFound;
    case grpc::StatusCode::ALREADY_EXISTS: return absl::StatusCode::kAlreadyExists;
    case grpc::StatusCode::PERMISSION_DENIED: return absl::StatusCode::kPermissionDenied;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return absl::StatusCode::kResourceExhausted;
    case grpc::StatusCode::FAILED_PRECONDITION: return absl::StatusCode::kFailedPrecondition;
    case grpc::StatusCode::ABORTED: return absl::StatusCode::kAborted;
    case grpc::StatusCode::OUT_OF_RANGE: return absl::StatusCode::kOutOfRange;
    case grpc::StatusCode::UNIMPLEMENTED: return absl::StatusCode::kUnimplemented;
    case grpc::StatusCode::INTERNAL: return absl::StatusCode::kInternal;
    case grpc::StatusCode::UNAVAILABLE: return absl::StatusCode::kUnavailable;
    case grpc::StatusCode::DATA_LOSS: return absl::StatusCode::kDataLoss;
    case grpc::StatusCode::UNAUTHENTICATED: return absl::StatusCode::kUnauthenticated;
    default: return absl::StatusCode::kUnknown;
  }
}

// The one place a grpc::Status becomes an absl::Status. Request errors keep the server's message verbatim
// (it names the field or the job); connection-level errors say which server and what to try.
absl::Status FromGrpc(const grpc::Status& status, const ConnectionOptions& options, absl::string_view rpc) {
  if (status.ok()) return absl::OkStatus();
  const absl::StatusCode code = ToAbslCode(status.error_code());
  const std::string& message = status.error_message();
  const std::string& server = options.server;
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return absl::Status(code, absl::StrCat("cannot reach the ftd server at ", server, ": ", message));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::Status(code, absl::StrCat("the ftd server at ", server, " did not answer ", rpc, " within ",
                                             absl::FormatDuration(options.timeout), " (--timeout): ", message));
    case grpc::StatusCode::UNAUTHENTICATED:
      return absl::Status(code, absl::StrCat("the ftd server at ", server, " rejected the credentials: ", message,
                                             " (pass --token or set FTD_TOKEN)"));
    case grpc::StatusCode::PERMISSION_DENIED:
      return absl::Status(code, absl::StrCat("the ftd server at ", server, " denied ", rpc, ": ", message));
    case grpc::StatusCode::UNIMPLEMENTED:
      return absl::Status(code, absl::StrCat("the ftd server at ", server, " does not implement ", rpc,
                                             message.empty() ? "" : ": ", message));
    default:
      return absl::Status(code, message);
  }
}

}  // namespace

struct JobClient::Stub {
  std::unique_ptr<v1::JobService::Stub> stub;

  // Every call carries the token; unary calls also carry the deadline.
  void Prepare(grpc::ClientContext& context, const ConnectionOptions& options, bool unary) const {
    if (unary) context.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  }

  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(const ConnectionOptions& options, absl::string_view rpc,
                                grpc::Status (v1::JobService::Stub::*method)(grpc::ClientContext*, const Request&,
                                                                             Response*),
                                const Request& request) const {
    grpc::ClientContext context;
    Prepare(context, options, /*unary=*/true);
    Response response;
    const grpc::Status status = (stub.get()->*method)(&context, request, &response);
    if (!status.ok()) return FromGrpc(status, options, rpc);
    return response;
  }
};

absl::StatusOr<std::unique_ptr<JobClient>> JobClient::Create(ConnectionOptions options) {
  if (options.server.empty()) return absl::InvalidArgumentError("server: an address (host:port) is required");
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout: must be > 0, got ", absl::FormatDuration(options.timeout)));
  }
  for (const char c : options.token) {
    // gRPC rejects other bytes in a text header; say so here rather than as an opaque call failure.
    if (c < 0x20 || c > 0x7e) return absl::InvalidArgumentError("token: must be printable ASCII");
  }
  ClientChannelOptions channel_options;  // The channel sends the token with every call.
  channel_options.address = options.server;
  channel_options.token = options.token;
  channel_options.ca_cert_path = options.tls_ca;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenClientChannel(channel_options);
  if (!channel.ok()) return channel.status();
  auto stub = std::make_unique<Stub>();
  stub->stub = v1::JobService::NewStub(*std::move(channel));
  return std::unique_ptr<JobClient>(new JobClient(std::move(options), std::move(stub)));
}

JobClient::JobClient(ConnectionOptions options, std::unique_ptr<Stub> stub)
    : options_(std::move(options)), stub_(std::move(stub)) {}

JobClient::~JobClient() = default;

absl::StatusOr<v1::Job> JobClient::SubmitJob(const v1::SubmitJobRequest& request) {
  return stub_->Call(options_, "SubmitJob", &v1::JobService::Stub::SubmitJob, request);
}

absl::StatusOr<v1::Job> JobClient::GetJob(const v1::GetJobRequest& request) {
  return stub_->Call(options_, "GetJob", &v1::JobService::Stub::GetJob, request);
}

absl::StatusOr<v1::ListJobsResponse> JobClient::ListJobs(const v1::ListJobsRequest& request) {
  return stub_->Call(options_, "ListJobs", &v1::JobService::Stub::ListJobs, request);
}

absl::StatusOr<v1::Job> JobClient::CancelJob(const v1::CancelJobRequest& request) {
  return stub_->Call(options_, "CancelJob", &v1::JobService::Stub::CancelJob, request);
}

absl::StatusOr<v1::GetJobLogsResponse> JobClient::GetJobLogs(const v1::GetJobLogsRequest& request) {
  return stub_->Call(options_, "GetJobLogs", &v1::JobService::Stub::GetJobLogs, request);
}

absl::StatusOr<v1::ListCheckpointsResponse> JobClient::ListCheckpoints(const v1::ListCheckpointsRequest& request) {
  return stub_->Call(options_, "ListCheckpoints", &v1::JobService::Stub::ListCheckpoints, request);
}

absl::StatusOr<v1::ListWorkersResponse> JobClient::ListWorkers(const v1::ListWorkersRequest& request) {
  return stub_->Call(options_, "ListWorkers", &v1::JobService::Stub::ListWorkers, request);
}

absl::StatusOr<v1::BackupStateResponse> JobClient::BackupState(const v1::BackupStateRequest& request) {
  return stub_->Call(options_, "BackupState", &v1::JobService::Stub::BackupState, request);
}

absl::StatusOr<v1::TransferReport> JobClient::GetTransferReport(const v1::GetTransferReportRequest& request) {
  return stub_->Call(options_, "GetTransferReport", &v1::JobService::Stub::GetTransferReport, request);
}

absl::StatusOr<v1::Evaluation> JobClient::RunEvaluation(const v1::RunEvaluationRequest& request) {
  return stub_->Call(options_, "RunEvaluation", &v1::JobService::Stub::RunEvaluation, request);
}

absl::StatusOr<v1::Evaluation> JobClient::GetEvaluation(const v1::GetEvaluationRequest& request) {
  return stub_->Call(options_, "GetEvaluation", &v1::JobService::Stub::GetEvaluation, request);
}

namespace {

// Reads a server stream into `on_message` until it ends or the handler fails; the shape of every streaming read.
template <typename Response>
absl::Status ReadStream(grpc::ClientContext& context, grpc::ClientReader<Response>& reader,
                        absl::FunctionRef<absl::Status(const Response&)> on_message, const ConnectionOptions& options,
                        absl::string_view rpc) {
  Response message;
  absl::Status handled = absl::OkStatus();
  while (reader.Read(&message)) {
    handled = on_message(message);
    if (!handled.ok()) {
      // Finish would wait for the server to end a stream that may never end: cancel it, then drain what is
      // in flight, as Finish requires.
      context.TryCancel();
      while (reader.Read(&message)) {
      }
      break;
    }
  }
  const grpc::Status finished = reader.Finish();
  if (!handled.ok()) return handled;
  return FromGrpc(finished, options, rpc);
}

}  // namespace

absl::Status JobClient::WatchJob(const v1::WatchJobRequest& request,
                                 absl::FunctionRef<absl::Status(const v1::JobEvent&)> on_event) {
  grpc::ClientContext context;
  stub_->Prepare(context, options_, /*unary=*/false);
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = stub_->stub->WatchJob(&context, request);
  return ReadStream(context, *reader, on_event, options_, "WatchJob");
}

absl::Status JobClient::DownloadArtifact(
    const v1::DownloadArtifactRequest& request,
    absl::FunctionRef<absl::Status(const v1::DownloadArtifactResponse&)> on_message) {
  grpc::ClientContext context;
  stub_->Prepare(context, options_, /*unary=*/false);
  std::unique_ptr<grpc::ClientReader<v1::DownloadArtifactResponse>> reader =
      stub_->stub->DownloadArtifact(&context, request);
  return ReadStream(context, *reader, on_message, options_, "DownloadArtifact");
}

}  // namespace ftd
