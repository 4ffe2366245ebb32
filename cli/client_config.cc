// ResolveConnection and the ftctl.yaml parser (yaml-cpp, whose exceptions stop here).
#include "cli/client_config.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/text_file.h"
#include "common/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace ftd {
namespace {

// nullopt when the variable is unset or empty, so `FTD_SERVER= ftctl ...` means "not set".
std::optional<std::string> NonEmpty(const EnvLookup& env, absl::string_view name) {
  std::optional<std::string> value = env(name);
  if (value.has_value() && value->empty()) return std::nullopt;
  return value;
}

}  // namespace

absl::StatusOr<ClientConfig> ParseClientConfig(absl::string_view yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("yaml syntax error at line ", e.mark.line + 1, ", column ",
                                                   e.mark.column + 1, ": ", e.msg));
  }
  ClientConfig config;
  if (root.IsNull()) return config;
  if (!root.IsMap()) return absl::InvalidArgumentError("expected a map with the keys server and token");
  for (const auto& entry : root) {
    const std::string key = entry.first.Scalar();
    std::optional<std::string>* field = nullptr;
    if (key == "server") field = &config.server;
    if (key == "token") field = &config.token;
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(key, ": unknown key (the keys are server and token)"));
    }
    if (field->has_value()) return absl::InvalidArgumentError(absl::StrCat(key, ": duplicate key"));
    if (!entry.second.IsScalar() || entry.second.Scalar().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(key, ": expected a non-empty string"));
    }
    *field = entry.second.Scalar();
  }
  return config;
}

absl::StatusOr<ConnectionOptions> ResolveConnection(const ConnectionFlags& flags, const EnvLookup& env) {
  ConnectionOptions options;
  options.timeout = flags.timeout;
  std::optional<std::string> server = flags.server.has_value() ? flags.server : NonEmpty(env, "FTD_SERVER");
  std::optional<std::string> token = flags.token.has_value() ? flags.token : NonEmpty(env, "FTD_TOKEN");

  if (!server.has_value() || !token.has_value()) {
    // Only read when it could still matter, so a broken file never blocks `--server X --token Y`.
    std::optional<std::string> path = NonEmpty(env, "FTD_CONFIG");
    const bool required = path.has_value();
    std::optional<std::string> home = NonEmpty(env, "HOME");
    if (!path.has_value() && home.has_value()) path = absl::StrCat(*home, "/.config/ftd/ftctl.yaml");
    if (path.has_value()) {
      absl::StatusOr<std::string> text = ReadTextFile(*path);
      if (!text.ok() && (required || !absl::IsNotFound(text.status()))) return text.status();
      if (text.ok()) {
        ASSIGN_OR_RETURN_CONTEXT(ClientConfig config, ParseClientConfig(*text), *path);
        if (!server.has_value()) server = std::move(config.server);
        if (!token.has_value()) token = std::move(config.token);
      }
    }
  }
  options.server = server.has_value() ? *std::move(server) : std::string(kDefaultServer);
  options.token = token.value_or("");
  return options;
}

}  // namespace ftd
