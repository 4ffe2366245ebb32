// MakeServerCredentials: TLS or plain text, with the BearerTokenProcessor attached either way; on plain text through
// the gRPC core's processor hook, which gRPC 1.51's InsecureServerCredentials does not expose.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/service/auth.h"
#include "coordinator/service/auth_internal.h"
#include "grpc/grpc.h"
#include "grpc/grpc_security.h"
#include "grpcpp/security/server_credentials.h"

namespace ftd {
namespace {

// The core's auth metadata hook, calling BearerTokenProcessor::Check. `state` is a heap-held shared_ptr that the
// core owns (ProcessorDestroy frees it once the last channel using these credentials is gone).
void ProcessorProcess(void* state, grpc_auth_context* /*context*/, const grpc_metadata* md, size_t num_md,
                      grpc_process_auth_metadata_done_cb done, void* user_data) {
  const auto& processor = *static_cast<std::shared_ptr<BearerTokenProcessor>*>(state);
  grpc::AuthMetadataProcessor::InputMetadata metadata;
  for (size_t i = 0; i < num_md; ++i) {
    metadata.emplace(grpc::string_ref(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(md[i].key)),
                                      GRPC_SLICE_LENGTH(md[i].key)),
                     grpc::string_ref(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(md[i].value)),
                                      GRPC_SLICE_LENGTH(md[i].value)));
  }
  const grpc::Status status = processor->Check(metadata);
  done(user_data, nullptr, 0, nullptr, 0, static_cast<grpc_status_code>(status.error_code()),
       status.ok() ? nullptr : status.error_message().c_str());
}

void ProcessorDestroy(void* state) { delete static_cast<std::shared_ptr<BearerTokenProcessor>*>(state); }

// InsecureServerCredentials with a processor. gRPC's own InsecureServerCredentials GPR_ASSERTs in
// SetAuthMetadataProcessor; the core insecure credentials, which it uses underneath, accept a processor. Overriding ServerCredentials' private
// AddPortToServer is how gRPC's own credentials classes plug in (grpcpp/security/server_credentials.h, 1.51);
// newer gRPC releases attach processors to insecure credentials directly, and this class can go then.
class InsecureProcessorCredentials final : public grpc::ServerCredentials {
 public:
  explicit InsecureProcessorCredentials(std::shared_ptr<BearerTokenProcessor> processor)
      : processor_(std::move(processor)) {}

  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>& processor) override {
    // Only a BearerTokenProcessor can run here (the core hook calls Check); MakeServerCredentials sets it.
    if (auto bearer = std::dynamic_pointer_cast<BearerTokenProcessor>(processor)) processor_ = std::move(bearer);
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
    grpc_auth_metadata_processor hook;
    hook.process = &ProcessorProcess;
    hook.destroy = &ProcessorDestroy;
    hook.state = new std::shared_ptr<BearerTokenProcessor>(processor_);
    grpc_server_credentials_set_auth_metadata_processor(creds, hook);
    const int port = grpc_server_add_http2_port(server, addr.c_str(), creds);
    grpc_server_credentials_release(creds);
    return port;
  }

  std::shared_ptr<BearerTokenProcessor> processor_;
};

// A PEM file holding a block whose BEGIN line contains `kind` ("CERTIFICATE", "PRIVATE KEY"); gRPC itself would
// only fail later, at AddListeningPort, without saying which file.
absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view option, absl::string_view kind) {
  absl::StatusOr<std::string> pem = auth_internal::ReadFile(path, option);
  if (!pem.ok()) return pem.status();
  const size_t begin = pem->find("-----BEGIN ");
  const size_t end = begin == std::string::npos ? std::string::npos : pem->find("-----", begin + 11);
  if (end == std::string::npos || !absl::StrContains(absl::string_view(*pem).substr(begin, end - begin), kind)) {
    return absl::InvalidArgumentError(absl::StrCat(option, " ", path, ": not a PEM ", absl::AsciiStrToLower(kind)));
  }
  return pem;
}

}  // namespace

namespace auth_internal {

std::shared_ptr<grpc::ServerCredentials> InsecureCredentialsWithProcessor(
    std::shared_ptr<BearerTokenProcessor> processor) {
  return std::make_shared<InsecureProcessorCredentials>(std::move(processor));
}

}  // namespace auth_internal

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& tls, std::shared_ptr<const TokenTable> tokens) {
  std::shared_ptr<BearerTokenProcessor> processor;
  if (tokens != nullptr) processor = std::make_shared<BearerTokenProcessor>(std::move(tokens));
  if (tls.cert_path.empty()) {
    if (!tls.key_path.empty() || !tls.client_ca_path.empty()) {
      return absl::InvalidArgumentError("tls key or client CA given without a tls cert");
    }
    if (processor == nullptr) return grpc::InsecureServerCredentials();
    return auth_internal::InsecureCredentialsWithProcessor(std::move(processor));
  }
  if (tls.key_path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("tls cert ", tls.cert_path, " given without a tls key"));
  }
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  absl::StatusOr<std::string> cert = ReadPem(tls.cert_path, "tls cert", "CERTIFICATE");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(tls.key_path, "tls key", "PRIVATE KEY");
  if (!key.ok()) return key.status();
  pair.cert_chain = *std::move(cert);
  pair.private_key = *std::move(key);
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!tls.client_ca_path.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(tls.client_ca_path, "tls client CA", "CERTIFICATE");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
    // Not ..._AND_REQUIRE_...: ftctl users have tokens, not certificates; a certificate that is presented (workers)
    // must verify.
    options.client_certificate_request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(options);
  if (processor != nullptr) credentials->SetAuthMetadataProcessor(processor);
  return credentials;
}

}  // namespace ftd
