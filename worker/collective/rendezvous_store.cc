// FileRendezvousStore: keys hex-encoded into file names (any byte may appear in a key), values written through a
// temp file and rename(2), Wait as Get in a loop with a capped backoff.
#include "worker/collective/rendezvous_store.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace ftd {
namespace {

class FileRendezvousStore final : public RendezvousStore {
 public:
  explicit FileRendezvousStore(std::string dir) : dir_(std::move(dir)) {}

  absl::Status Set(absl::string_view key, absl::string_view value) override {
    if (key.empty()) return absl::InvalidArgumentError("rendezvous: empty key");
    const std::string path = PathOf(key);
    // Unique per process and call: pid plus a per-process counter.
    static std::atomic<uint64_t> counter{0};
    const std::string tmp = absl::StrCat(dir_, "/.tmp.", getpid(), ".", counter.fetch_add(1));
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(value.data(), static_cast<std::streamsize>(value.size()));
      out.flush();
      if (!out) {
        std::remove(tmp.c_str());
        return absl::UnavailableError(absl::StrCat("rendezvous: cannot write ", tmp));
      }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      std::remove(tmp.c_str());
      return absl::UnavailableError(absl::StrCat("rendezvous: cannot publish key \"", key, "\": ", std::strerror(err)));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override {
    if (key.empty()) return absl::InvalidArgumentError("rendezvous: empty key");
    std::ifstream in(PathOf(key), std::ios::binary);
    if (!in) return std::optional<std::string>();
    std::ostringstream value;
    value << in.rdbuf();
    if (in.bad()) return absl::UnavailableError(absl::StrCat("rendezvous: cannot read key \"", key, "\""));
    return std::optional<std::string>(value.str());
  }

  absl::StatusOr<std::string> Wait(absl::string_view key, absl::Duration timeout) override {
    const absl::Time deadline = absl::Now() + timeout;
    absl::Duration backoff = absl::Milliseconds(1);
    while (true) {
      absl::StatusOr<std::optional<std::string>> value = Get(key);
      if (!value.ok()) return value.status();
      if (value->has_value()) return **value;
      const absl::Time now = absl::Now();
      if (now >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat("rendezvous: key \"", key, "\" not set within ",
                                                        absl::FormatDuration(timeout), " (store ", dir_, ")"));
      }
      absl::SleepFor(std::min(backoff, deadline - now));
      backoff = std::min(backoff * 2, absl::Milliseconds(50));
    }
  }

 private:
  std::string PathOf(absl::string_view key) const { return absl::StrCat(dir_, "/k.", absl::BytesToHexString(key)); }

  std::string dir_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RendezvousStore>> OpenFileRendezvousStore(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("rendezvous: empty store directory");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rendezvous: cannot use ", dir, " as a store directory", ec ? ": " + ec.message() : ""));
  }
  return std::make_unique<FileRendezvousStore>(dir);
}

absl::StatusOr<std::unique_ptr<RendezvousStore>> OpenRendezvousStore(absl::string_view spec) {
  if (absl::StartsWith(spec, "file:")) return OpenFileRendezvousStore(std::string(spec.substr(5)));
  return absl::InvalidArgumentError(
      absl::StrCat("--rendezvous ", spec, ": expected file:DIR (the coordinator store comes with `serve`)"));
}

}  // namespace ftd
