// `ftd-worker train CONFIG --output DIR` as a user runs it: job-spec YAML in, progress lines out, the step log as
// JSON lines beside the adapter, and errors that name the file and the key.
#include "worker/train_command.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "kernels/kernels.h"
#include "model/file_io.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

const std::string kModel = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io/tiny_llama";

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

TrainCommandOptions Options(const std::string& config, const std::string& output, const std::string& log, bool json) {
  TrainCommandOptions options;
  options.config_path = config;
  options.output_dir = output;
  options.log_path = log;
  options.json = json;
  return options;
}

class TrainCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string data;
    for (int i = 0; i < 6; ++i) data += R"({"text": "one two three four )" + std::to_string(i) + "\"}\n";
    Write(tmp_.file("data.jsonl"), data);
  }
  std::string Config(const std::string& extra) const {
    return "base_model: " + kModel + "\ndatasets:\n  - path: " + tmp_.file("data.jsonl") +
           "\nmicro_batch_size: 2\nsequence_len: 16\n" + extra;
  }
  TempDir tmp_;
};

TEST_F(TrainCommandTest, TrainsLogsEveryStepAndWritesTheAdapter) {
  Write(tmp_.file("job.yaml"), Config("max_steps: 4\npriority: 5\n"));
  std::ostringstream out;
  const absl::Status status = RunTrainCommand(Options(tmp_.file("job.yaml"), tmp_.file("out"), "", false), out);
  ASSERT_TRUE(status.ok()) << status << "\n" << out.str();
  EXPECT_NE(out.str().find("note: ignored here (only the coordinator uses them): priority"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("step 4/4 epoch 1 loss "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("trained 4 steps on 6 examples"), std::string::npos) << out.str();
  std::ifstream log(tmp_.file("out/train_log.jsonl"));
  std::string line;
  int steps = 0;
  while (std::getline(log, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["step"], ++steps);
    EXPECT_EQ(j["total_steps"], 4);
    EXPECT_GT(j["loss"].get<double>(), 0);
    EXPECT_GT(j["tokens"].get<int>(), 0);
  }
  EXPECT_EQ(steps, 4);
  EXPECT_TRUE(ReadFileToString(tmp_.file("out/adapter_config.json")).ok());
  EXPECT_TRUE(ReadFileToString(tmp_.file("out/adapter_model.safetensors")).ok());
}

TEST_F(TrainCommandTest, JsonModePrintsStepsAsJsonLines) {
  Write(tmp_.file("job.yaml"), Config("max_steps: 2\n"));
  std::ostringstream out;
  ASSERT_TRUE(RunTrainCommand(Options(tmp_.file("job.yaml"), tmp_.file("out"), tmp_.file("log.jsonl"), true), out).ok());
  int step_lines = 0;
  std::vector<std::string> checkpoints;
  std::istringstream lines(out.str());
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.rfind("step ", 0), std::string::npos) << "text step line in --json mode: " << line;
    if (line.empty() || line[0] != '{') continue;
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("loss")) ++step_lines;
    if (j.contains("checkpoint")) {
      checkpoints.push_back(j["checkpoint"].get<std::string>());
      EXPECT_FALSE(j["best"].get<bool>());  // No guardrail here.
    }
  }
  EXPECT_EQ(step_lines, 2);
  // Rank 0 announces each committed checkpoint: the last step always gets one.
  EXPECT_THAT(checkpoints, ::testing::ElementsAre("step-00000002"));
  EXPECT_TRUE(ReadFileToString(tmp_.file("log.jsonl")).ok());
}

TEST_F(TrainCommandTest, ErrorsNameTheFileAndTheKey) {
  std::ostringstream out;
  absl::Status status = RunTrainCommand(Options(tmp_.file("missing.yaml"), tmp_.file("out"), "", false), out);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("missing.yaml"), absl::string_view::npos) << status;

  Write(tmp_.file("job.yaml"), Config("lora_r: zero\n"));
  status = RunTrainCommand(Options(tmp_.file("job.yaml"), tmp_.file("out"), "", false), out);
  EXPECT_EQ(status.message(), tmp_.file("job.yaml") + ": lora_r: expected an integer, got \"zero\"");

  if (GetBackend("cuda").ok()) return;  // The machine has the device: nothing to refuse.
  Write(tmp_.file("job.yaml"), Config("device: cuda\n"));
  status = RunTrainCommand(Options(tmp_.file("job.yaml"), tmp_.file("out"), "", false), out);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_TRUE(absl::StartsWith(status.message(), "device: cuda: no cuda backend: ")) << status;
  EXPECT_FALSE(std::filesystem::exists(tmp_.file("out"))) << "a refused config must not create the output";
}

}  // namespace
}  // namespace ftd
