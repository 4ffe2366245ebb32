// ftctl end to end: runs the binary (import stories260K, init, inspect, tokenize, merge) and checks its output
// and exit codes, including one-line "ftctl: ..." errors with exit 1 for bad input, and which commands the build has.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/cli/run_local_ftctl.h"
#include "tests/testing/temp_dir.h"
#include "nlohmann/json.hpp"

namespace {

namespace fs = std::filesystem;

const std::string kSource = FTD_SOURCE_DIR;
const std::string kStories = kSource + "/../shared/data/models/stories260K";
const std::string kFixtures = kSource + "/tests/fixtures/model_io";

using Result = ::ftd::FtctlResult;

class FtctlTest : public ::testing::Test {
 protected:
  // Runs `ftctl args` with `stdin_text` on stdin.
  Result Run(const std::string& args, const std::string& stdin_text = "") {
    return ::ftd::RunLocalFtctl(FTCTL_PATH, args, stdin_text, tmp_);
  }

  ::ftd::TempDir tmp_dir_{"ftd_ftctl"};
  const std::string tmp_ = tmp_dir_.path();
};

TEST_F(FtctlTest, ImportStoriesThenInspect) {
  if (!fs::exists(kStories + "/stories260K.bin")) GTEST_SKIP() << kStories << " is absent (shared data)";
  const std::string out = tmp_ + "/stories";
  Result imported = Run("model import-llama2c " + kStories + "/stories260K.bin " + kStories + "/tok512.bin " + out);
  ASSERT_EQ(imported.code, 0) << imported.err;
  Result inspected = Run("model inspect " + out + " -o json");
  ASSERT_EQ(inspected.code, 0) << inspected.err;
  nlohmann::json j = nlohmann::json::parse(inspected.out);
  // dim 64, hidden 172, 5 layers, 8 heads of 8, 4 KV heads (kv dim 32), vocab 512, tied.
  const int64_t embed = 512 * 64;
  const int64_t attention = 5 * (64 * 64 + 32 * 64 + 32 * 64 + 64 * 64);
  const int64_t mlp = 5 * 3 * 64 * 172;
  const int64_t norm = (2 * 5 + 1) * 64;
  EXPECT_EQ(j["parameters"]["embed"], embed);
  EXPECT_EQ(j["parameters"]["attention"], attention);
  EXPECT_EQ(j["parameters"]["mlp"], mlp);
  EXPECT_EQ(j["parameters"]["norm"], norm);
  EXPECT_EQ(j["parameters"]["lm_head"], 0);
  EXPECT_EQ(j["parameters"]["total"], embed + attention + mlp + norm);
  EXPECT_EQ(j["parameters"]["total"], 260032);
  EXPECT_EQ(j["parameters_on_disk"], 260032);
  EXPECT_EQ(j["config"]["num_key_value_heads"], 4);
  EXPECT_EQ(j["dtypes_on_disk"]["F32"], 47);
  EXPECT_EQ(j["tokenizer"]["kind"], "sentencepiece_bpe");
  EXPECT_EQ(j["tokenizer"]["vocab_size"], 512);
  EXPECT_EQ(j["tokenizer"]["bos"]["id"], 1);
  EXPECT_TRUE(j["files"].contains("model.safetensors"));
  // The human table too.
  Result table = Run("model inspect " + out);
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("LlamaForCausalLM"), std::string::npos);
  EXPECT_NE(table.out.find("total 260032"), std::string::npos) << table.out;
  // Tokenize with the imported tokenizer: BOS, then the llama2.c ids.
  Result tokens = Run("model tokenize " + out, "Once upon a time\n");
  ASSERT_EQ(tokens.code, 0) << tokens.err;
  nlohmann::json ids = nlohmann::json::parse(tokens.out);
  ASSERT_TRUE(ids.is_array());
  EXPECT_EQ(ids[0], 1);
  Result no_special = Run("model tokenize --no-special " + out, "Once upon a time\n");
  EXPECT_EQ(nlohmann::json::parse(no_special.out).size() + 1, ids.size());
}

TEST_F(FtctlTest, InitThenInspectAndTokenizeJsonl) {
  const std::string tokenizer_dir = kFixtures + "/tiny_llama";
  if (!fs::exists(tokenizer_dir + "/config.json")) GTEST_SKIP() << tokenizer_dir << " is absent";
  const std::string out = tmp_ + "/init";
  Result init = Run("model init --config " + tokenizer_dir + "/config.json --tokenizer " + tokenizer_dir +
                    " --seed 5 " + out);
  ASSERT_EQ(init.code, 0) << init.err;
  Result inspected = Run("model inspect " + out + " -o json");
  ASSERT_EQ(inspected.code, 0) << inspected.err;
  nlohmann::json j = nlohmann::json::parse(inspected.out);
  // hidden 32, intermediate 88, 2 layers, 4 heads of 8, 2 KV heads (kv dim 16), vocab 320, untied.
  const int64_t expected = 320 * 32 + 2 * (32 * 32 + 2 * 16 * 32 + 32 * 32) + 2 * 3 * 32 * 88 + 5 * 32 + 320 * 32;
  EXPECT_EQ(j["parameters"]["total"], expected);
  EXPECT_EQ(j["config"]["rope_scaling"], "llama3");
  EXPECT_EQ(j["tokenizer"]["kind"], "byte_level_bpe");
  std::ofstream(tmp_ + "/texts.jsonl") << "\"hello world\"\n\n\"a\\nb\"\n";
  Result tokens = Run("model tokenize " + out + " --file " + tmp_ + "/texts.jsonl");
  ASSERT_EQ(tokens.code, 0) << tokens.err;
  EXPECT_EQ(std::count(tokens.out.begin(), tokens.out.end(), '\n'), 2);
  std::ofstream(tmp_ + "/bad.jsonl") << "{\"text\": 1}\n";
  Result bad = Run("model tokenize " + out + " --file " + tmp_ + "/bad.jsonl");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("bad.jsonl:1: expected a JSON string per line"), std::string::npos) << bad.err;
}

TEST_F(FtctlTest, MergeFixtureAdapter) {
  if (!fs::exists(kFixtures + "/lora_adapter/adapter_config.json")) GTEST_SKIP() << "lora_adapter fixture absent";
  const std::string out = tmp_ + "/merged";
  Result merged = Run("adapter merge " + kFixtures + "/tiny_llama " + kFixtures + "/lora_adapter " + out);
  ASSERT_EQ(merged.code, 0) << merged.err;
  EXPECT_NE(merged.out.find("merged 10 LoRA modules"), std::string::npos) << merged.out;
  EXPECT_TRUE(fs::exists(out + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(out + "/tokenizer.json"));
  EXPECT_EQ(Run("model inspect " + out).code, 0);
}

TEST_F(FtctlTest, MergeIntoA4BitBaseIsRefused) {
  const std::string quantized = kSource + "/tests/fixtures/quant/tiny_llama_nf4_dq";
  if (!fs::exists(quantized + "/config.json")) GTEST_SKIP() << "tiny_llama_nf4_dq fixture absent";
  const std::string out = tmp_ + "/merged";
  Result merged = Run("adapter merge " + quantized + " " + kFixtures + "/lora_adapter " + out);
  EXPECT_EQ(merged.code, 1);
  EXPECT_NE(merged.err.find("is a bitsandbytes 4-bit directory"), std::string::npos) << merged.err;
  EXPECT_NE(merged.err.find("merge the adapter into the unquantised model"), std::string::npos) << merged.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(FtctlTest, AdapterInitWritesAPeftAdapterThatMergesToTheBase) {
  if (!fs::exists(kFixtures + "/tiny_llama/config.json")) GTEST_SKIP() << "tiny_llama fixture absent";
  const std::string adapter = tmp_ + "/adapter";
  Result init = Run("adapter init " + kFixtures + "/tiny_llama " + adapter +
                    " --r 4 --alpha 8 --target-modules q_proj,v_proj --seed 3");
  ASSERT_EQ(init.code, 0) << init.err;
  EXPECT_NE(init.out.find("wrote a LoRA adapter with 4 modules (r=4, scale=2)"), std::string::npos) << init.out;
  std::ifstream config_file(adapter + "/adapter_config.json");
  nlohmann::json config = nlohmann::json::parse(config_file);
  EXPECT_EQ(config["r"], 4);
  EXPECT_EQ(config["peft_type"], "LORA");
  EXPECT_EQ(config["target_modules"], nlohmann::json({"q_proj", "v_proj"}));
  EXPECT_TRUE(fs::exists(adapter + "/adapter_model.safetensors"));
  // B = 0, so merging the fresh adapter leaves every weight as it was.
  const std::string merged = tmp_ + "/merged";
  ASSERT_EQ(Run("adapter merge " + kFixtures + "/tiny_llama " + adapter + " " + merged).code, 0);
  std::ifstream a(kFixtures + "/tiny_llama/model.safetensors", std::ios::binary);
  std::ifstream b(merged + "/model.safetensors", std::ios::binary);
  std::string base_bytes((std::istreambuf_iterator<char>(a)), std::istreambuf_iterator<char>());
  std::string merged_bytes((std::istreambuf_iterator<char>(b)), std::istreambuf_iterator<char>());
  EXPECT_EQ(base_bytes.size(), merged_bytes.size());
}

// The job commands need gRPC: they are ftctl subcommands in service builds only; the compute-only build says so.
TEST_F(FtctlTest, JobCommandsOnlyInServiceBuilds) {
  Result help = Run("--help");
  ASSERT_EQ(help.code, 0) << help.err;
  for (const char* command : {"submit", "list", "get", "cancel", "watch", "logs", "checkpoints"}) {
    const bool listed = help.out.find(std::string("\n  ") + command + " ") != std::string::npos;
    EXPECT_EQ(listed, FTCTL_HAS_JOB_COMMANDS == 1) << command << "\n" << help.out;
  }
  if (FTCTL_HAS_JOB_COMMANDS == 0) {
    EXPECT_NE(help.out.find("they need FTD_SERVICE=ON"), std::string::npos) << help.out;
    EXPECT_EQ(Run("submit job.yaml").code, 1);
  }
}

TEST_F(FtctlTest, BadInputsGiveOneLineAndExit1) {
  struct Case {
    std::string args;
    std::string message;
  };
  std::ofstream(tmp_ + "/gpt2.json") << R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})";
  std::ofstream(tmp_ + "/junk.bin") << "not a checkpoint at all, really";
  const Case cases[] = {
      {"model inspect " + tmp_ + "/missing", "config.json: cannot open"},
      {"model init --config " + tmp_ + "/gpt2.json " + tmp_ + "/out", "architecture \"GPT2LMHeadModel\" is not supported"},
      {"model import-llama2c " + tmp_ + "/junk.bin " + tmp_ + "/junk.bin " + tmp_ + "/out2", "not a llama2.c v0 checkpoint"},
      {"adapter merge " + tmp_ + " " + tmp_ + " " + tmp_ + "/out3", "ftctl: "},
      {"model frobnicate", "ftctl: "},
      {"model inspect", "ftctl: "},
      {"adapter init " + tmp_ + "/missing " + tmp_ + "/out4", "config.json: cannot open"},
      {"adapter init " + kFixtures + "/tiny_llama " + tmp_ + "/out5 --r 0", "--r: Value 0 not in range 1 to 65536"},
  };
  for (const Case& c : cases) {
    Result r = Run(c.args);
    EXPECT_EQ(r.code, 1) << c.args << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("ftctl: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
}

}  // namespace
