// ResolveConnection and ParseClientConfig: precedence (flag, environment, config file, default) and the config
// file's strict keys, with an injected environment and files in a temp directory.
#include "cli/client_config.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

class ClientConfigTest : public ::testing::Test {
 protected:
  EnvLookup Env() {
    return [this](absl::string_view name) -> std::optional<std::string> {
      auto it = env_.find(std::string(name));
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
  }

  std::string Write(const std::string& relative, const std::string& text) {
    const std::string path = tmp_.path() + "/" + relative;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
    return path;
  }

  TempDir tmp_{"ftd_client_config"};
  std::map<std::string, std::string> env_ = {{"HOME", tmp_.path()}};
};

TEST_F(ClientConfigTest, DefaultsToTheLocalServerWithoutToken) {
  absl::StatusOr<ConnectionOptions> options = ResolveConnection({}, Env());
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->server, "127.0.0.1:7070");
  EXPECT_EQ(options->token, "");
  EXPECT_EQ(options->timeout, absl::Seconds(30));
}

TEST_F(ClientConfigTest, FlagBeatsEnvironmentBeatsConfigFile) {
  Write(".config/ftd/ftctl.yaml", "server: file:1\ntoken: file-token\n");
  absl::StatusOr<ConnectionOptions> from_file = ResolveConnection({}, Env());
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(from_file->server, "file:1");
  EXPECT_EQ(from_file->token, "file-token");

  env_["FTD_SERVER"] = "env:2";
  env_["FTD_TOKEN"] = "";  // Empty is unset: the file's token stays.
  absl::StatusOr<ConnectionOptions> from_env = ResolveConnection({}, Env());
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->server, "env:2");
  EXPECT_EQ(from_env->token, "file-token");

  ConnectionFlags flags;
  flags.server = "flag:3";
  flags.token = "flag-token";
  flags.timeout = absl::Seconds(4);
  absl::StatusOr<ConnectionOptions> from_flags = ResolveConnection(flags, Env());
  ASSERT_TRUE(from_flags.ok());
  EXPECT_EQ(from_flags->server, "flag:3");
  EXPECT_EQ(from_flags->token, "flag-token");
  EXPECT_EQ(from_flags->timeout, absl::Seconds(4));
}

TEST_F(ClientConfigTest, FtdConfigNamesTheFileAndMustExist) {
  Write(".config/ftd/ftctl.yaml", "server: home:1\n");
  env_["FTD_CONFIG"] = Write("elsewhere.yaml", "server: elsewhere:2\n");
  absl::StatusOr<ConnectionOptions> options = ResolveConnection({}, Env());
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->server, "elsewhere:2");

  env_["FTD_CONFIG"] = tmp_.path() + "/missing.yaml";
  absl::StatusOr<ConnectionOptions> missing = ResolveConnection({}, Env());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), tmp_.path() + "/missing.yaml: No such file or directory");
}

TEST_F(ClientConfigTest, BrokenFileIsNotReadWhenFlagsSayEverything) {
  env_["FTD_CONFIG"] = Write("broken.yaml", "server: [unclosed\n");
  ConnectionFlags flags;
  flags.server = "flag:1";
  flags.token = "t";
  EXPECT_TRUE(ResolveConnection(flags, Env()).ok());
  absl::StatusOr<ConnectionOptions> read = ResolveConnection({}, Env());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(read.status().message().rfind(tmp_.path() + "/broken.yaml: yaml syntax error at line ", 0), 0u)
      << read.status();
}

TEST(ParseClientConfig, StrictKeysAndValues) {
  EXPECT_FALSE(ParseClientConfig("").value().server.has_value());
  EXPECT_EQ(ParseClientConfig("server: a:1").value().server, "a:1");
  EXPECT_EQ(ParseClientConfig("sever: a:1").status().message(), "sever: unknown key (the keys are server and token)");
  EXPECT_EQ(ParseClientConfig("server: a\nserver: b").status().message(), "server: duplicate key");
  EXPECT_EQ(ParseClientConfig("token: [a, b]").status().message(), "token: expected a non-empty string");
  EXPECT_EQ(ParseClientConfig("token:").status().message(), "token: expected a non-empty string");
  EXPECT_EQ(ParseClientConfig("- server").status().message(), "expected a map with the keys server and token");
}

}  // namespace
}  // namespace ftd
