// OpenClientChannel: a gRPC channel to the ftd coordinator for ftctl and the worker: TLS or plain text, the bearer
// token on every call, message size limits. Service plumbing (includes grpcpp); see README.md for who may link it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace ftd {

// The default send and receive limit: the coordinator refuses requests over 8 MiB (kMaxRequestBytes in
// coordinator/service/auth.h), so a larger one fails here, saying so, instead of after the upload.
inline constexpr int kDefaultClientMaxMessageBytes = 8 << 20;

struct ClientChannelOptions {
  // gRPC target: "host:port", "dns:///host:port", "unix:///path". Required.
  std::string address;
  // Sent as `authorization: Bearer <token>` on every call; empty sends none. Printable ASCII.
  std::string token;
  // PEM CA bundle that signed the server's certificate. Non-empty turns TLS on.
  std::string ca_cert_path;
  // PEM client certificate chain and key, for servers that ask for client certificates (workers). Need TLS.
  std::string client_cert_path;
  std::string client_key_path;
  // The name the server's certificate must carry, when it is not the address's host (an IP address, a test
  // certificate); empty checks the host.
  std::string tls_server_name;
  // Largest message sent or received; > 0.
  int max_message_bytes = kDefaultClientMaxMessageBytes;
  // Longest wait between reconnection attempts (GRPC_ARG_MAX_RECONNECT_BACKOFF_MS); a worker sets a few seconds so it
  // is back soon after a coordinator restart. Zero keeps gRPC's default (up to two minutes).
  absl::Duration max_reconnect_backoff = absl::ZeroDuration();
};

// The channel connects lazily: an unreachable server is the first call's UNAVAILABLE. INVALID_ARGUMENT for an empty
// address, a token with bytes outside printable ASCII (gRPC would refuse the header on every call), a client
// certificate without its key (or the reverse), client certificates without TLS, a non-positive size limit or a
// negative backoff;
// NOT_FOUND / PERMISSION_DENIED naming an unreadable PEM file.
//
// With TLS the token travels as call credentials; on plain text, where gRPC refuses call credentials, a client
// interceptor adds it to every call (README.md). The channel is thread-safe, as every gRPC channel.
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenClientChannel(const ClientChannelOptions& options);

// Adds `authorization: Bearer <token>` to one call; nothing for an empty token. For code that opens its own
// channel, or a channel from OpenClientChannel without a token. Not both: on a TLS channel with a token the call
// would carry two authorization headers, which the coordinator refuses as malformed (on plain text the channel's
// interceptor leaves a call's own header alone).
void AddAuth(grpc::ClientContext& context, absl::string_view token);

}  // namespace ftd
