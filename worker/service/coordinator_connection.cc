// CoordinatorConnection: channel, token metadata, deadlines, status conversion.
#include "worker/service/coordinator_connection.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/service_channel/client_channel.h"

namespace ftd {

// Worker-to-coordinator messages carry checkpoint chunks (1 MiB) and report batches, well under the coordinator's
// 8 MiB request limit (kMaxRequestBytes), which this matches.
constexpr int kMaxMessageBytes = 8 << 20;

CoordinatorConnection::CoordinatorConnection(CoordinatorConnectionOptions options,
                                             std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)), channel_(std::move(channel)), stub_(v1::WorkerService::NewStub(channel_)) {}

absl::StatusOr<std::unique_ptr<CoordinatorConnection>> CoordinatorConnection::Create(
    CoordinatorConnectionOptions options) {
  if (options.address.empty()) return absl::InvalidArgumentError("--coordinator: the address is empty");
  ClientChannelOptions channel_options;
  channel_options.address = options.address;
  channel_options.token = options.token;
  channel_options.ca_cert_path = options.tls_ca;
  channel_options.client_cert_path = options.tls_cert;
  channel_options.client_key_path = options.tls_key;
  channel_options.max_message_bytes = kMaxMessageBytes;
  // Reconnect quickly after a coordinator restart (the default backoff grows to two minutes).
  channel_options.max_reconnect_backoff = absl::Seconds(2);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenClientChannel(channel_options);
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<CoordinatorConnection>(new CoordinatorConnection(std::move(options), *std::move(channel)));
}

std::unique_ptr<grpc::ClientContext> CoordinatorConnection::NewContext(absl::Duration timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (timeout > absl::ZeroDuration()) context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

CoordinatorConnectionOptions ConnectionOptionsFromEnvironment(std::string address) {
  auto get = [](const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? std::string() : std::string(value);
  };
  CoordinatorConnectionOptions options;
  options.address = std::move(address);
  options.token = get("FTD_TOKEN");
  options.tls_ca = get("FTD_TLS_CA");
  options.tls_cert = get("FTD_TLS_CERT");
  options.tls_key = get("FTD_TLS_KEY");
  return options;
}

std::vector<std::string> ConnectionEnvironment(const CoordinatorConnectionOptions& options) {
  std::vector<std::string> env;
  if (!options.token.empty()) env.push_back(absl::StrCat("FTD_TOKEN=", options.token));
  if (!options.tls_ca.empty()) env.push_back(absl::StrCat("FTD_TLS_CA=", options.tls_ca));
  if (!options.tls_cert.empty()) env.push_back(absl::StrCat("FTD_TLS_CERT=", options.tls_cert));
  if (!options.tls_key.empty()) env.push_back(absl::StrCat("FTD_TLS_KEY=", options.tls_key));
  return env;
}

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

}  // namespace ftd
