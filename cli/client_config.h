// Where ftctl finds its server and token: flags, then the environment (FTD_SERVER, FTD_TOKEN), then the config
// file ($FTD_CONFIG, else ~/.config/ftd/ftctl.yaml), then the default server 127.0.0.1:7070.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/job_client.h"

namespace ftd {

// ftd's gRPC port on the local machine, when nothing else names a server.
inline constexpr absl::string_view kDefaultServer = "127.0.0.1:7070";

// The values given on the command line; unset ones fall through to the environment and the config file.
struct ConnectionFlags {
  std::optional<std::string> server;
  std::optional<std::string> token;
  absl::Duration timeout = absl::Seconds(30);
};

// The config file's contents: a YAML map with the optional keys `server` and `token`.
struct ClientConfig {
  std::optional<std::string> server;
  std::optional<std::string> token;
};

// INVALID_ARGUMENT naming the key for anything but a map of those keys to scalars; empty text is an empty config.
absl::StatusOr<ClientConfig> ParseClientConfig(absl::string_view yaml_text);

// Reads an environment variable: std::getenv in ftctl, a map in tests. nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(absl::string_view name)>;

// Resolves each setting by precedence: flag, then FTD_SERVER / FTD_TOKEN (an empty variable counts as unset),
// then the config file, then kDefaultServer (no token). The config file is $FTD_CONFIG, which must exist when
// set, else $HOME/.config/ftd/ftctl.yaml when present. Errors in the file name it: "PATH: unknown key ...".
absl::StatusOr<ConnectionOptions> ResolveConnection(const ConnectionFlags& flags, const EnvLookup& env);

}  // namespace ftd
