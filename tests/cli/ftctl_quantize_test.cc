// `ftctl model quantize` end to end: runs the binary on tiny_llama, checks the written directory (byte-equal to
// transformers' save_pretrained output in tests/fixtures/quant/, loads with `ftctl model inspect`) and that the
// printed byte counts and ratio are those of the files; plus the one-line errors for bad input.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>

#include "gtest/gtest.h"
#include "tests/cli/run_local_ftctl.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"

namespace {

namespace fs = std::filesystem;

const std::string kSource = FTD_SOURCE_DIR;
const std::string kTinyLlama = kSource + "/tests/fixtures/model_io/tiny_llama";
const std::string kQuantFixtures = kSource + "/tests/fixtures/quant";

using Result = ::ftd::FtctlResult;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// The JSON header of a safetensors file (8-byte little-endian length, then the JSON).
nlohmann::json SafetensorsHeader(const std::string& path) {
  const std::string bytes = ReadFile(path);
  uint64_t n = 0;
  if (bytes.size() >= 8) std::memcpy(&n, bytes.data(), 8);
  if (bytes.size() < 8 + n) return nlohmann::json::object();
  return nlohmann::json::parse(bytes.substr(8, n));
}

int64_t TensorBytes(const nlohmann::json& entry) {
  return entry["data_offsets"][1].get<int64_t>() - entry["data_offsets"][0].get<int64_t>();
}

bool IsProjectionWeight(const std::string& name) {
  for (const char* p : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}) {
    if (name.find(std::string(p) + ".weight") != std::string::npos) return true;
  }
  return false;
}

class FtctlQuantizeTest : public ::testing::TestWithParam<bool> {
 protected:
  Result Run(const std::string& args) { return ::ftd::RunLocalFtctl(FTCTL_PATH, args, "", tmp_); }

  ::ftd::TempDir tmp_dir_{"ftd_ftctl_quantize"};
  const std::string tmp_ = tmp_dir_.path();
};

INSTANTIATE_TEST_SUITE_P(DoubleQuant, FtctlQuantizeTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "DoubleQuant" : "NoDoubleQuant"; });

TEST_P(FtctlQuantizeTest, QuantizesTinyLlama) {
  const bool double_quant = GetParam();
  const std::string out = tmp_ + "/q";
  Result q = Run("model quantize " + kTinyLlama + " " + out + (double_quant ? "" : " --no-double-quant"));
  ASSERT_EQ(q.code, 0) << q.err;
  EXPECT_NE(q.out.find("quantised 14 projection weights"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find(double_quant ? "double quantisation" : "fp32 absmax"), std::string::npos) << q.out;

  // The weights file is what transformers writes.
  const std::string fixture = kQuantFixtures + (double_quant ? "/tiny_llama_nf4_dq" : "/tiny_llama_nf4");
  EXPECT_TRUE(ReadFile(out + "/model.safetensors") == ReadFile(fixture + "/model.safetensors"));

  // The printed sizes and ratio are those of the files: before = the source's projection weights, after = every
  // tensor stored for them (codes, absmax, code tables, quant_state).
  int64_t before = 0, after = 0;
  const nlohmann::json source_header = SafetensorsHeader(kTinyLlama + "/model.safetensors");
  const nlohmann::json out_header = SafetensorsHeader(out + "/model.safetensors");
  for (const auto& [name, entry] : source_header.items()) {
    if (name != "__metadata__" && IsProjectionWeight(name)) before += TensorBytes(entry);
  }
  for (const auto& [name, entry] : out_header.items()) {
    if (name != "__metadata__" && IsProjectionWeight(name)) after += TensorBytes(entry);
  }
  EXPECT_EQ(before, 2 * 4 * (32 * 32 + 2 * 16 * 32 + 32 * 32 + 3 * 32 * 88));  // 2 layers of fp32 projections.
  std::smatch m;
  const std::regex line(R"(linear weights (\d+) bytes -> (\d+) bytes \(ratio ([0-9.]+)\))");
  ASSERT_TRUE(std::regex_search(q.out, m, line)) << q.out;
  EXPECT_EQ(std::stoll(m[1].str()), before);
  EXPECT_EQ(std::stoll(m[2].str()), after);
  EXPECT_NEAR(std::stod(m[3].str()), static_cast<double>(after) / static_cast<double>(before), 0.00005);

  // The directory loads: inspect reports the quantisation and the unpacked parameter count.
  Result inspected = Run("model inspect " + out + " -o json");
  ASSERT_EQ(inspected.code, 0) << inspected.err;
  nlohmann::json j = nlohmann::json::parse(inspected.out);
  EXPECT_EQ(j["quantization"]["quant_type"], "nf4");
  EXPECT_EQ(j["quantization"]["double_quant"], double_quant);
  EXPECT_EQ(j["quantization"]["quantized_weights"], 14);
  EXPECT_EQ(j["parameters_on_disk"], j["parameters"]["total"]);
  Result table = Run("model inspect " + out);
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("bitsandbytes 4-bit NF4"), std::string::npos) << table.out;
}

TEST_P(FtctlQuantizeTest, BadInputsGiveOneLineAndExit1) {
  const std::string quantized = kQuantFixtures + (GetParam() ? "/tiny_llama_nf4_dq" : "/tiny_llama_nf4");
  const std::pair<std::string, std::string> cases[] = {
      {"model quantize " + quantized + " " + tmp_ + "/again", "already bitsandbytes 4-bit quantised"},
      {"model quantize " + tmp_ + "/missing " + tmp_ + "/out", "config.json: cannot open"},
      {"model quantize " + kTinyLlama, "ftctl: "},
  };
  for (const auto& [args, message] : cases) {
    Result r = Run(args);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("ftctl: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(tmp_ + "/again"));
}

}  // namespace
