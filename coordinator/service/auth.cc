// The token file parser, the bearer-token decision per call (method allow-lists and roles) and IdentityOf.
#include "coordinator/service/auth.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "common/text_file.h"
#include "coordinator/service/auth_internal.h"

namespace ftd {
namespace {

// Methods anyone may call: probes and grpcurl's discovery. Matched on the `:path` pseudo-header.
constexpr absl::string_view kOpenMethodPrefixes[] = {"/grpc.health.v1.Health/", "/grpc.reflection."};
constexpr absl::string_view kWorkerServicePrefix = "/ftd.v1.WorkerService/";

bool IsTokenByte(char c) { return c > 0x20 && c < 0x7f; }

bool IsUserByte(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '@' || c == '-';
}

// Equal without an early exit, so the time taken does not depend on where two tokens of one length first differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < a.size(); ++i) difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  return difference == 0;
}

// The first value of `key` in the metadata, nullopt when absent; `duplicate` says whether there are more.
std::optional<absl::string_view> FindOne(const grpc::AuthMetadataProcessor::InputMetadata& metadata,
                                         absl::string_view key, bool* duplicate) {
  auto [begin, end] = metadata.equal_range(grpc::string_ref(key.data(), key.size()));
  if (begin == end) return std::nullopt;
  *duplicate = std::next(begin) != end;
  return absl::string_view(begin->second.data(), begin->second.size());
}

// The table's entry for the call's `authorization: Bearer <token>` header; UNAUTHENTICATED saying whether the
// header is missing, malformed or names an unknown token (never the token itself).
absl::StatusOr<const TokenEntry*> Authenticate(const grpc::AuthMetadataProcessor::InputMetadata& metadata,
                                               const TokenTable* tokens) {
  bool duplicate = false;
  const std::optional<absl::string_view> header = FindOne(metadata, "authorization", &duplicate);
  if (!header.has_value()) {
    return absl::UnauthenticatedError("missing token: send the header \"authorization: Bearer <token>\"");
  }
  // RFC 6750: the scheme is case-insensitive.
  if (duplicate || header->size() < 7 || !absl::EqualsIgnoreCase(header->substr(0, 7), "bearer ")) {
    return absl::UnauthenticatedError("malformed authorization header: want one \"Bearer <token>\"");
  }
  const TokenEntry* entry = tokens == nullptr ? nullptr : tokens->Find(absl::StripAsciiWhitespace(header->substr(7)));
  if (entry == nullptr) return absl::UnauthenticatedError("unknown token");
  return entry;
}

}  // namespace

namespace auth_internal {

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return absl::Status(text.status().code(), absl::StrCat(what, " ", text.status().message()));
  return text;
}

}  // namespace auth_internal

const TokenEntry* TokenTable::Find(absl::string_view token) const {
  const TokenEntry* found = nullptr;
  for (const TokenEntry& entry : entries) {
    if (ConstantTimeEquals(entry.token, token) && found == nullptr) found = &entry;
  }
  return found;
}

absl::StatusOr<TokenTable> LoadTokenFile(const std::string& path) {
  absl::StatusOr<std::string> text = auth_internal::ReadFile(path, "token file");
  if (!text.ok()) return text.status();
  TokenTable table;
  struct stat info;
  if (::stat(path.c_str(), &info) == 0 && (info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(info.st_mode & 07777));
    table.warnings.push_back(absl::StrCat(path, ": group or others may access this token file (mode ", mode,
                                          "); tokens are secrets: chmod 600 ", path));
  }
  std::map<std::string, int> first_line;  // token -> line, for the duplicate message.
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    const std::string where = absl::StrCat(path, ":", line_number, ": ");
    const std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() < 2 || fields.size() > 3) {
      return absl::InvalidArgumentError(absl::StrCat(where, "want \"TOKEN USER [admin|worker]\", got ",
                                                     fields.size(), " field", fields.size() == 1 ? "" : "s"));
    }
    TokenEntry entry;
    entry.token = std::string(fields[0]);
    entry.user = std::string(fields[1]);
    for (const char c : entry.token) {
      if (!IsTokenByte(c)) return absl::InvalidArgumentError(absl::StrCat(where, "token has a non-ASCII byte"));
    }
    if (entry.token.size() < kMinTokenLength) {
      return absl::InvalidArgumentError(absl::StrCat(where, "token is ", entry.token.size(),
                                                     " characters, want at least ", kMinTokenLength));
    }
    for (const char c : entry.user) {
      if (!IsUserByte(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "user \"", entry.user, "\": want letters, digits and . _ @ - only"));
      }
    }
    if (fields.size() == 3) {
      if (fields[2] == "admin") {
        entry.role = TokenRole::kAdmin;
      } else if (fields[2] == "worker") {
        entry.role = TokenRole::kWorker;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "unknown role \"", fields[2], "\" (want admin or worker, or nothing for a user)"));
      }
    }
    if (auto [it, inserted] = first_line.emplace(entry.token, line_number); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat(where, "duplicate token (first on line ", it->second, ")"));
    }
    table.entries.push_back(std::move(entry));
  }
  if (table.entries.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no tokens (want lines \"TOKEN USER [admin|worker]\")"));
  }
  return table;
}

BearerTokenProcessor::BearerTokenProcessor(std::shared_ptr<const TokenTable> tokens) : tokens_(std::move(tokens)) {}

grpc::Status BearerTokenProcessor::Check(const InputMetadata& auth_metadata) const {
  bool duplicate = false;
  const absl::string_view method = FindOne(auth_metadata, ":path", &duplicate).value_or("");
  for (const absl::string_view open : kOpenMethodPrefixes) {
    if (absl::StartsWith(method, open)) return grpc::Status::OK;
  }
  const absl::StatusOr<const TokenEntry*> entry = Authenticate(auth_metadata, tokens_.get());
  if (!entry.ok()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(entry.status().message()));
  }
  const bool worker_method = absl::StartsWith(method, kWorkerServicePrefix);
  const TokenEntry& caller = **entry;
  if (caller.role == TokenRole::kWorker && !worker_method) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("user ", caller.user, " has a worker token, which may call only "
                                     "ftd.v1.WorkerService, not ", method));
  }
  if (caller.role == TokenRole::kUser && worker_method) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("user ", caller.user, " may not call ", method,
                                     ": ftd.v1.WorkerService needs a worker or admin token"));
  }
  return grpc::Status::OK;
}

grpc::Status BearerTokenProcessor::Process(const InputMetadata& auth_metadata, grpc::AuthContext* /*context*/,
                                           OutputMetadata* /*consumed_auth_metadata*/,
                                           OutputMetadata* /*response_metadata*/) {
  return Check(auth_metadata);
}

absl::StatusOr<CallerIdentity> IdentityOf(const grpc::ServerContext& context, const TokenTable* tokens) {
  if (tokens == nullptr) return CallerIdentity{"anonymous", /*admin=*/true, /*worker=*/true};
  ASSIGN_OR_RETURN(const TokenEntry* entry, Authenticate(context.client_metadata(), tokens));
  return CallerIdentity{entry->user, entry->role == TokenRole::kAdmin,
                        entry->role == TokenRole::kWorker || entry->role == TokenRole::kAdmin};
}

}  // namespace ftd
