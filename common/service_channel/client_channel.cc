// OpenClientChannel: credentials from the options (TLS with token call credentials, or plain text with a token
// interceptor) and the channel arguments for the size limits.
#include "common/service_channel/client_channel.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/client_interceptor.h"

namespace ftd {
namespace {

std::string BearerValue(absl::string_view token) { return absl::StrCat("Bearer ", token); }

absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view option) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  auto os_error = [&](int error) {
    const std::string message = absl::StrCat(option, " ", path, ": ", std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    if (error == EACCES) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  };
  if (file == nullptr) return os_error(errno);
  std::string text;
  char buffer[1 << 14];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, n);
  const int read_error = std::ferror(file) ? errno : 0;
  std::fclose(file);
  if (read_error != 0) return os_error(read_error);
  if (text.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(option, " ", path, ": not a PEM file"));
  }
  return text;
}

// TLS: the token as call credentials, so gRPC sends it only over a channel secure enough for it.
class BearerTokenPlugin final : public grpc::MetadataCredentialsPlugin {
 public:
  explicit BearerTokenPlugin(std::string token) : value_(BearerValue(token)) {}
  bool IsBlocking() const override { return false; }
  const char* GetType() const override { return "ftd-bearer"; }
  grpc::Status GetMetadata(grpc::string_ref /*service_url*/, grpc::string_ref /*method_name*/,
                           const grpc::AuthContext& /*channel_auth_context*/,
                           std::multimap<grpc::string, grpc::string>* metadata) override {
    metadata->emplace("authorization", value_);
    return grpc::Status::OK;
  }

 private:
  const std::string value_;
};

// Plain text: the token added to each call's initial metadata. One interceptor per call; the factory outlives the
// channel's calls (the channel owns it).
class BearerTokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerTokenInterceptor(const std::string* value) : value_(value) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      std::multimap<std::string, std::string>* metadata = methods->GetSendInitialMetadata();
      // A call that set its own authorization (AddAuth) keeps it.
      if (metadata->find("authorization") == metadata->end()) metadata->emplace("authorization", *value_);
    }
    methods->Proceed();
  }

 private:
  const std::string* value_;
};

class BearerTokenInterceptorFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenInterceptorFactory(std::string token) : value_(BearerValue(token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo* /*info*/) override {
    return new BearerTokenInterceptor(&value_);
  }

 private:
  const std::string value_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenClientChannel(const ClientChannelOptions& options) {
  if (options.address.empty()) return absl::InvalidArgumentError("address: a gRPC target (host:port) is required");
  for (const char c : options.token) {
    if (c < 0x20 || c > 0x7e) return absl::InvalidArgumentError("token: must be printable ASCII");
  }
  if (options.max_message_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_message_bytes: must be > 0, got ", options.max_message_bytes));
  }
  if (options.client_cert_path.empty() != options.client_key_path.empty()) {
    return absl::InvalidArgumentError("client certificate and client key must be given together");
  }
  const bool tls = !options.ca_cert_path.empty();
  if (!tls && !options.client_cert_path.empty()) {
    return absl::InvalidArgumentError("a client certificate needs TLS: give the server's CA certificate too");
  }

  if (options.max_reconnect_backoff < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_reconnect_backoff: must be >= 0");
  }

  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(options.max_message_bytes);
  arguments.SetMaxSendMessageSize(options.max_message_bytes);
  if (options.max_reconnect_backoff > absl::ZeroDuration()) {
    arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                     static_cast<int>(absl::ToInt64Milliseconds(options.max_reconnect_backoff)));
  }

  if (tls) {
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> ca = ReadPemFile(options.ca_cert_path, "CA certificate");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    if (!options.client_cert_path.empty()) {
      absl::StatusOr<std::string> cert = ReadPemFile(options.client_cert_path, "client certificate");
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadPemFile(options.client_key_path, "client key");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    if (!options.tls_server_name.empty()) arguments.SetSslTargetNameOverride(options.tls_server_name);
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(ssl);
    if (!options.token.empty()) {
      credentials = grpc::CompositeChannelCredentials(
          credentials, grpc::MetadataCredentialsFromPlugin(std::make_unique<BearerTokenPlugin>(options.token)));
    }
    return grpc::CreateCustomChannel(options.address, credentials, arguments);
  }

  if (options.token.empty()) {
    return grpc::CreateCustomChannel(options.address, grpc::InsecureChannelCredentials(), arguments);
  }
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<BearerTokenInterceptorFactory>(options.token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      options.address, grpc::InsecureChannelCredentials(), arguments, std::move(interceptors));
}

void AddAuth(grpc::ClientContext& context, absl::string_view token) {
  if (!token.empty()) context.AddMetadata("authorization", BearerValue(token));
}

}  // namespace ftd
