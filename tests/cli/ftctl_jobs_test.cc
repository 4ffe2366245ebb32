// The ftctl binary's job commands against the in-memory JobService served in-process (job_server_fixture.h):
// flags, FTD_SERVER / FTD_TOKEN / FTD_CONFIG, the config file in $HOME, one-line errors and watch's exit codes.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/job_server_fixture.h"
#include "tests/cli/run_local_ftctl.h"

namespace ftd {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

using Result = FtctlResult;

class FtctlJobsTest : public JobServerTest {
 protected:
  // Runs `ftctl args` with a clean connection environment (no FTD_*, HOME in the temp dir) plus `env`.
  Result Run(const std::string& args, const std::string& env = "") {
    const std::string err = tmp_.path() + "/stderr";
    const std::string cmd = absl::StrCat("env -u FTD_SERVER -u FTD_TOKEN -u FTD_CONFIG HOME=", tmp_.path(), " ", env,
                                         " ", FTCTL_PATH, " ", args, " </dev/null 2>", err);
    return RunCapturing(cmd, err);
  }
};

TEST_F(FtctlJobsTest, SubmitGetWatchThroughFlagsAndEnvironment) {
  const std::string spec = WriteFile("job.yaml", kValidSpec);
  Result submitted = Run("submit " + spec + " --server " + address_);
  ASSERT_EQ(submitted.code, 0) << submitted.err;
  EXPECT_EQ(submitted.out, "jobs/ft-000001\n");

  Result got = Run("get ft-000001 -o json", "FTD_SERVER=" + address_);
  ASSERT_EQ(got.code, 0) << got.err;
  EXPECT_EQ(nlohmann::json::parse(got.out)["state"], "JOB_STATE_QUEUED");

  ASSERT_TRUE(inner_->SetState("jobs/ft-000001", v1::JOB_STATE_FAILED, "NaNLoss").ok());
  Result watched = Run("watch ft-000001 --server " + address_);
  EXPECT_EQ(watched.code, 2);
  EXPECT_EQ(watched.out, "jobs/ft-000001 FAILED step 0/100 loss - ppl - - tok/s eta -\n");  // Not a TTY: lines.
  EXPECT_EQ(watched.err, "ftctl: jobs/ft-000001 FAILED (NaNLoss)\n");

  Result bad = Run("submit " + WriteFile("bad.yaml", std::string(kValidSpec) + "lora_r: -1\n") + " --server " +
                   address_);
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err, "ftctl: " + tmp_.path() + "/bad.yaml: lora_r: must be > 0, got -1\n");

  Result missing = Run("cancel ft-000009 --server " + address_);
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err, "ftctl: job jobs/ft-000009 not found\n");
}

TEST_F(FtctlJobsTest, TokenAndServerFromEnvironmentAndConfigFile) {
  // The config file supplies the server and token; FTD_TOKEN overrides the file's token; --token overrides both.
  const std::string config = WriteFile("ftctl.yaml", "server: " + address_ + "\ntoken: from-file\n");
  ASSERT_EQ(Run("list", "FTD_CONFIG=" + config).code, 0);
  ASSERT_EQ(Run("list", "FTD_CONFIG=" + config + " FTD_TOKEN=from-env").code, 0);
  ASSERT_EQ(Run("list --token from-flag", "FTD_CONFIG=" + config + " FTD_TOKEN=from-env").code, 0);
  // $HOME/.config/ftd/ftctl.yaml when FTD_CONFIG is unset.
  std::filesystem::create_directories(tmp_.path() + "/.config/ftd");
  WriteFile(".config/ftd/ftctl.yaml", "server: " + address_ + "\n");
  ASSERT_EQ(Run("list").code, 0);
  EXPECT_THAT(service_->calls(), ElementsAre("ListJobs Bearer from-file", "ListJobs Bearer from-env",
                                             "ListJobs Bearer from-flag", "ListJobs <none>"));

  Result bad_key = Run("list", "FTD_CONFIG=" + WriteFile("bad.yaml", "sever: x\n"));
  EXPECT_EQ(bad_key.code, 1);
  EXPECT_EQ(bad_key.err, "ftctl: " + tmp_.path() + "/bad.yaml: sever: unknown key (the keys are server and token)\n");
}

TEST_F(FtctlJobsTest, UnreachableServerIsOneClearLine) {
  ClosedPort closed;
  Result r = Run("list --timeout 10", "FTD_SERVER=" + closed.address());
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, StartsWith("ftctl: cannot reach the ftd server at " + closed.address() + ": "));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace ftd
