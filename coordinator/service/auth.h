// Who may call the coordinator: bearer tokens from a token file, checked per call by an auth metadata processor,
// the caller's identity for the services (IdentityOf), and the gRPC server's TLS credentials.
//
// Roles. Each token belongs to a user and has one role, the token file's optional third column:
//   (none)  a user: JobService (their own jobs; per-user checks are the service's, through IdentityOf);
//   admin   everything, every user's jobs;
//   worker  a worker process: WorkerService only, so a leaked worker token cannot submit or cancel jobs, and a user
//           token cannot register a fake worker that would be sent jobs' specs.
// The gRPC health service (/grpc.health.v1.Health/) and server reflection (/grpc.reflection.) need no token, so load
// balancers and grpcurl's `list` work. With no token file, nothing is checked and every caller is "anonymous" with
// every role: the daemon's behaviour before tokens, fit for a single-user loopback setup.
//
// gRPC 1.51 (Debian 12) runs auth metadata processors only when the server credentials carry one, and
// grpc::InsecureServerCredentials()->SetAuthMetadataProcessor aborts the process (GPR_ASSERT). So for plain-text
// ports MakeServerCredentials returns its own ServerCredentials that registers the same BearerTokenProcessor
// through the gRPC core (auth_credentials.cc); TLS ports use SslServerCredentials + SetAuthMetadataProcessor. Both
// paths are tested in tests/coordinator/auth_test.cc.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_context.h"

namespace ftd {

// The largest request message the coordinator accepts: grpc::ServerBuilder::SetMaxReceiveMessageSize(
// kMaxRequestBytes). gRPC's default is 4 MiB; a JobSpec is a few KiB, and the largest requests are the workers'
// checkpoint chunks and metric batches, which their writers keep under this. Larger requests fail with
// RESOURCE_EXHAUSTED before any service code runs, so a client cannot make the daemon buffer gigabytes.
inline constexpr int kMaxRequestBytes = 8 << 20;

// A token shorter than this is refused by LoadTokenFile (guessable).
inline constexpr size_t kMinTokenLength = 16;

enum class TokenRole { kUser, kAdmin, kWorker };

struct TokenEntry {
  std::string token;
  std::string user;
  TokenRole role = TokenRole::kUser;
};

// The tokens the server accepts. A value: built by LoadTokenFile (or by tests), then shared read-only
// (std::shared_ptr<const TokenTable>) by the processor and the services (IdentityOf); reloading builds a new table.
// Threading: immutable once shared, so any number of threads may Find at once.
struct TokenTable {
  std::vector<TokenEntry> entries;
  // Problems that do not stop the server, for the daemon to log ("PATH: readable by group or others ...").
  std::vector<std::string> warnings;

  // The entry whose token equals `token`, or nullptr. Compares against every entry in constant time per entry, so
  // the answer's timing does not tell how much of a guessed token was right.
  const TokenEntry* Find(absl::string_view token) const;
};

// Reads a token file: one `TOKEN USER [admin|worker]` per line, fields separated by spaces or tabs; blank lines and
// lines starting with `#` are ignored. Tokens are printable ASCII without spaces, at least kMinTokenLength long;
// user names are [A-Za-z0-9._@-]+. Errors are INVALID_ARGUMENT "PATH:LINE: ..." (bad field count, short token,
// duplicate token, unknown role, bad user name; the token itself is never printed), or "PATH: no tokens"; an
// unreadable file is NOT_FOUND / PERMISSION_DENIED naming it. A file that group or others may read is loaded with a
// warning in `warnings`.
absl::StatusOr<TokenTable> LoadTokenFile(const std::string& path);

// Checks `authorization: Bearer <token>` on every call but health and reflection: UNAUTHENTICATED when the header is
// missing or malformed or the token is unknown (the message says which, never the token), PERMISSION_DENIED when the
// token's role may not call the method (see the roles above). It only admits or refuses calls; the services learn
// who called through IdentityOf.
//
// Why it sets no auth properties (the usual AuthMetadataProcessor pattern): gRPC 1.51 hands the processor the
// connection's AuthContext, not the call's, so a property added for one call stays on the connection. Two users
// multiplexed on one connection would read each other's identity (an admin's first call would make every later call
// read as the admin), the properties grow with every call, and a handler reading them races with the processor of
// the next call appending. tests/coordinator/auth_test.cc (IdentityIsPerCallOnASharedConnection) guards this.
//
// Lifecycle: built with the table and handed to the server credentials before the server starts; lives as long as
// any server channel (gRPC holds a reference). Threading: IsBlocking() is false, so Process runs inline on gRPC's
// threads, any number at once; it only reads the immutable table.
class BearerTokenProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit BearerTokenProcessor(std::shared_ptr<const TokenTable> tokens);

  bool IsBlocking() const override { return false; }
  // Check's status; touches neither the context nor the metadata.
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;

  // The decision for one call's metadata (`:path` names the method). The core-registered processor of plain-text
  // ports (auth_credentials.cc) calls it directly.
  grpc::Status Check(const InputMetadata& auth_metadata) const;

 private:
  std::shared_ptr<const TokenTable> tokens_;
};

// The caller of a call.
struct CallerIdentity {
  std::string user;
  // May see and cancel every user's jobs.
  bool admin = false;
  // May call the WorkerService (workers and admins).
  bool worker = false;
};

// The identity of the call `context` serves, from its own `authorization` header looked up in `tokens`, the table the
// server's BearerTokenProcessor checks. `tokens` null (authentication off) is {"anonymous", admin, worker}: every
// caller may do everything. With a table, a call whose token is missing or unknown is UNAUTHENTICATED (the processor
// refused it already unless it is a health or reflection call, or the server was built without the processor), so a
// wiring mistake fails closed. The header therefore stays in the call's client_metadata(): never log that map.
absl::StatusOr<CallerIdentity> IdentityOf(const grpc::ServerContext& context, const TokenTable* tokens);

// The server side of TLS. All paths are PEM files.
struct ServerTlsOptions {
  // The server's certificate chain; empty serves plain text (loopback, tests, a TLS-terminating proxy).
  std::string cert_path;
  // Its private key; required with cert_path.
  std::string key_path;
  // CA bundle for client certificates. When set, clients are asked for a certificate and one that is presented
  // must chain to this CA (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY); a client without one is still served,
  // since ftctl users authenticate with tokens only. Needs cert_path.
  std::string client_ca_path;
};

// Credentials for grpc::ServerBuilder::AddListeningPort. Plain text when tls.cert_path is empty, else TLS. With
// `tokens`, every call is checked by a BearerTokenProcessor over them (on plain-text ports too, see the top of this
// file); without, no call is checked. INVALID_ARGUMENT for a key or CA without a cert (or a cert without a key) and
// for a file that is not PEM of the expected kind; NOT_FOUND / PERMISSION_DENIED for an unreadable one; each names
// the option and the file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& tls, std::shared_ptr<const TokenTable> tokens = nullptr);

}  // namespace ftd
