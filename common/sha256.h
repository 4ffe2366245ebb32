// SHA-256 over OpenSSL's libcrypto (EVP): the file digests of exported artifacts (ArtifactManifest.files[].sha256),
// computed by the coordinator and checked by ftctl. Service builds only: the compute-only build carries no OpenSSL.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ftd {

// An incremental digest: Update any number of times, then HexDigest once. Not thread-safe; movable.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(absl::string_view bytes);
  // 64 lowercase hex digits. Ends the digest: Update and HexDigest must not be called again.
  std::string HexDigest();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// The digest of `bytes` in one call.
std::string Sha256Hex(absl::string_view bytes);

// The digest of a file's contents, read in 1 MiB blocks. NOT_FOUND / PERMISSION_DENIED naming the path.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);

}  // namespace ftd
