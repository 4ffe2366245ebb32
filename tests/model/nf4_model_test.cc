// bitsandbytes 4-bit model directories (model/quant/nf4_model.h, HfQuantization in model/hf_model.h) against
// what transformers 5.24 + bitsandbytes 0.50.2 save_pretrained writes on CPU for tiny_llama
// (tests/fixtures/quant/tiny_llama_nf4{,_dq}, tests/fixtures/gen_nf4_model.py): byte-equal writing, bitwise
// reading, and one clear error per kind of corrupted directory.
#include "model/quant/nf4_model.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "model/file_io.h"
#include "model/hf_model.h"
#include "model/safetensors.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

namespace fs = std::filesystem;

const std::string kSource = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io/tiny_llama";
const std::string kNf4 = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/quant/tiny_llama_nf4";
const std::string kNf4Dq = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/quant/tiny_llama_nf4_dq";
const std::string kQ = "model.layers.0.self_attn.q_proj.weight";  // (32, 32): 16 blocks.

std::string FixtureDir(Nf4Statistics statistics) {
  return statistics == Nf4Statistics::kDoubleQuant ? kNf4Dq : kNf4;
}

std::string ReadFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

bool SameFloatBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class Nf4ModelTest : public ::testing::TestWithParam<Nf4Statistics> {};

INSTANTIATE_TEST_SUITE_P(Statistics, Nf4ModelTest,
                         ::testing::Values(Nf4Statistics::kFp32Absmax, Nf4Statistics::kDoubleQuant),
                         [](const auto& info) {
                           return info.param == Nf4Statistics::kDoubleQuant ? "DoubleQuant" : "Fp32Absmax";
                         });

TEST_P(Nf4ModelTest, WriteEqualsTransformersBytes) {
  absl::StatusOr<HfModel> source = LoadHfModel(kSource);
  ASSERT_TRUE(source.ok()) << source.status();
  TempDir tmp("ftd_nf4_model");
  const std::string out = tmp.file("q");
  ASSERT_TRUE(WriteNf4Model(*source, out, GetParam()).ok());
  // Same tensors, same header (metadata {"format":"pt"}, quant_state JSON as json.dumps), same bytes.
  const std::string want = ReadFile(FixtureDir(GetParam()) + "/model.safetensors");
  const std::string got = ReadFile(out + "/model.safetensors");
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << "model.safetensors differs from transformers' save_pretrained output";
  // config.json too: the source's keys plus quantization_config, as transformers writes it.
  EXPECT_EQ(ReadFile(out + "/config.json"), ReadFile(FixtureDir(GetParam()) + "/config.json"));
  EXPECT_EQ(ReadFile(out + "/generation_config.json"), ReadFile(kSource + "/generation_config.json"));
  EXPECT_TRUE(fs::exists(out + "/tokenizer.json"));
  // And it loads back as a quantised model.
  absl::StatusOr<HfModel> written = LoadHfModel(out);
  ASSERT_TRUE(written.ok()) << written.status();
  ASSERT_TRUE(written->quantization.has_value());
  EXPECT_EQ(written->quantization->double_quant, GetParam() == Nf4Statistics::kDoubleQuant);
}

TEST_P(Nf4ModelTest, ReadEqualsQuantizeNf4OfTheSource) {
  absl::StatusOr<HfModel> source = LoadHfModel(kSource);
  ASSERT_TRUE(source.ok()) << source.status();
  absl::StatusOr<HfModel> quantized = LoadHfModel(FixtureDir(GetParam()));
  ASSERT_TRUE(quantized.ok()) << quantized.status();
  int checked = 0;
  for (const HfTensorSpec& spec : LlamaTensorSpecs(source->config)) {
    if (!IsNf4QuantizedTensor(spec)) {
      // Floating tensors pass through unchanged.
      absl::StatusOr<TensorView> a = source->weights->Get(spec.name), b = quantized->weights->Get(spec.name);
      ASSERT_TRUE(a.ok() && b.ok()) << spec.name;
      EXPECT_TRUE(a->dtype == b->dtype && a->shape == b->shape &&
                  std::equal(a->data.begin(), a->data.end(), b->data.begin(), b->data.end()))
          << spec.name;
      continue;
    }
    absl::StatusOr<TensorView> original = source->weights->Get(spec.name);
    ASSERT_TRUE(original.ok()) << original.status();
    absl::StatusOr<std::vector<float>> values = ToF32(*original);
    ASSERT_TRUE(values.ok());
    absl::StatusOr<Nf4Tensor> want = QuantizeNf4(*values, GetParam());
    ASSERT_TRUE(want.ok()) << want.status();
    absl::StatusOr<Nf4Tensor> got = ReadNf4Weight(*quantized, spec.name, spec.shape);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->statistics, GetParam()) << spec.name;
    EXPECT_EQ(got->numel, want->numel) << spec.name;
    EXPECT_EQ(got->packed, want->packed) << spec.name;
    EXPECT_TRUE(SameFloatBits(got->absmax, want->absmax)) << spec.name;
    EXPECT_EQ(got->qabsmax, want->qabsmax) << spec.name;
    EXPECT_EQ(std::memcmp(&got->offset, &want->offset, sizeof(float)), 0) << spec.name;
    EXPECT_TRUE(SameFloatBits(got->absmax2, want->absmax2)) << spec.name;
    std::vector<float> restored(spec.shape[0] * spec.shape[1]);
    EXPECT_TRUE(DequantizeNf4(*got, absl::MakeSpan(restored)).ok()) << spec.name;
    ++checked;
  }
  EXPECT_EQ(checked, 14);  // 7 projections x 2 layers; lm_head stays floating.
}

TEST(Nf4ModelLoadTest, QuantizationFromConfig) {
  absl::StatusOr<HfModel> plain = LoadHfModel(kSource);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->quantization.has_value());
  absl::StatusOr<HfModel> nf4 = LoadHfModel(kNf4);
  ASSERT_TRUE(nf4.ok()) << nf4.status();
  ASSERT_TRUE(nf4->quantization.has_value());
  EXPECT_FALSE(nf4->quantization->double_quant);
  absl::StatusOr<HfModel> dq = LoadHfModel(kNf4Dq);
  ASSERT_TRUE(dq.ok()) << dq.status();
  ASSERT_TRUE(dq->quantization.has_value());
  EXPECT_TRUE(dq->quantization->double_quant);
  // The config itself is the source's: same architecture and dimensions.
  EXPECT_EQ(dq->config.hidden_size, plain->config.hidden_size);
  EXPECT_EQ(dq->config.intermediate_size, plain->config.intermediate_size);
}

TEST(Nf4ModelLoadTest, PredicateNamesTheDecoderProjections) {
  EXPECT_TRUE(IsNf4QuantizedTensor({kQ, {32, 32}, HfTensorKind::kLinear}));
  EXPECT_FALSE(IsNf4QuantizedTensor({"lm_head.weight", {320, 32}, HfTensorKind::kLinear}));
  EXPECT_FALSE(IsNf4QuantizedTensor({"model.embed_tokens.weight", {320, 32}, HfTensorKind::kEmbedding}));
  EXPECT_FALSE(IsNf4QuantizedTensor({"model.layers.0.self_attn.q_proj.bias", {32}, HfTensorKind::kBias}));
  EXPECT_FALSE(IsNf4QuantizedTensor({"model.norm.weight", {32}, HfTensorKind::kNorm}));
}

TEST(Nf4ModelWriteTest, RefusesAnAlreadyQuantisedModel) {
  absl::StatusOr<HfModel> dq = LoadHfModel(kNf4Dq);
  ASSERT_TRUE(dq.ok()) << dq.status();
  TempDir tmp("ftd_nf4_model");
  absl::Status s = WriteNf4Model(*dq, tmp.file("q"), Nf4Statistics::kDoubleQuant);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("already bitsandbytes 4-bit quantised"), std::string::npos) << s;
  EXPECT_FALSE(fs::exists(tmp.file("q")));
}

TEST(Nf4ModelReadTest, RefusesAnUnquantisedModel) {
  absl::StatusOr<HfModel> plain = LoadHfModel(kSource);
  ASSERT_TRUE(plain.ok()) << plain.status();
  absl::StatusOr<Nf4Tensor> t = ReadNf4Weight(*plain, kQ, {32, 32});
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition) << t.status();
}

// The quant_state JSON's nested_offset is Python's repr of the float32 offset widened to double.
TEST(Nf4QuantStateTest, PythonFloatReprMatchesPython) {
  // Expected strings printed by Python 3 repr().
  const std::vector<std::pair<double, std::string>> cases = {
      {1e-05, "1e-05"},
      {0.0001, "0.0001"},
      {123.0, "123.0"},
      {1e16, "1e+16"},
      {1234567890123456.0, "1234567890123456.0"},
      {1e15, "1000000000000000.0"},
      {0.1, "0.1"},
      {static_cast<double>(0.1f), "0.10000000149011612"},
      {-2.5e-07, "-2.5e-07"},
      {0.0, "0.0"},
      {-0.0, "-0.0"},
      {1.5e300, "1.5e+300"},
      {5e-324, "5e-324"},
      {12345.678, "12345.678"},
      {9.999999e-05, "9.999999e-05"},
      {static_cast<double>(0.2556755840778351f), "0.2556755840778351"},
  };
  for (const auto& [value, want] : cases) EXPECT_EQ(PythonFloatRepr(value), want) << want;
}

// A copy of a fixture directory whose files a test then corrupts.
class CorruptNf4Test : public ::testing::Test {
 protected:
  void CopyFixture(const std::string& from) {
    for (const char* name : {"config.json", "model.safetensors"}) {
      fs::copy_file(from + "/" + name, dir_ + "/" + name);
    }
  }

  // Rewrites model.safetensors after `edit` has changed its tensors (by name).
  template <typename Edit>
  void EditWeights(Edit edit) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(dir_ + "/model.safetensors");
    ASSERT_TRUE(file.ok()) << file.status();
    std::map<std::string, Tensor> tensors;
    for (const std::string& name : (*file)->names()) {
      TensorView v = *(*file)->Get(name);
      tensors[name] = Tensor{v.dtype, v.shape, std::vector<uint8_t>(v.data.begin(), v.data.end())};
    }
    file->reset();
    edit(tensors);
    std::vector<std::pair<std::string, TensorView>> views;
    for (const auto& [name, t] : tensors) views.emplace_back(name, t.view());
    ASSERT_TRUE(WriteSafetensors(dir_ + "/model.safetensors", views, {{"format", "pt"}}).ok());
  }

  // Replaces q_proj's quant_state JSON text.
  void EditQuantState(const std::string& from, const std::string& to) {
    EditWeights([&](std::map<std::string, Tensor>& t) {
      Tensor& state = t.at(kQ + ".quant_state.bitsandbytes__nf4");
      std::string text(state.data.begin(), state.data.end());
      ASSERT_NE(text.find(from), std::string::npos) << text;
      text = absl::StrReplaceAll(text, {{from, to}});
      state = Tensor{DType::kU8, {static_cast<int64_t>(text.size())}, std::vector<uint8_t>(text.begin(), text.end())};
    });
  }

  void EditConfig(const std::string& key, const nlohmann::json& value) {
    nlohmann::json j = nlohmann::json::parse(ReadFile(dir_ + "/config.json"));
    j["quantization_config"][key] = value;
    ASSERT_TRUE(WriteStringToFile(dir_ + "/config.json", j.dump(2)).ok());
  }

  // ReadNf4Weight(q_proj) after loading, which must fail with `code` and a message holding every one of `parts`
  // and the directory.
  void ExpectReadError(absl::StatusCode code, const std::vector<std::string>& parts) {
    absl::StatusOr<HfModel> hf = LoadHfModel(dir_);
    ASSERT_TRUE(hf.ok()) << hf.status();
    absl::StatusOr<Nf4Tensor> t = ReadNf4Weight(*hf, kQ, {32, 32});
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), code) << t.status();
    EXPECT_NE(t.status().message().find(dir_), std::string::npos) << t.status();
    for (const std::string& part : parts) EXPECT_NE(t.status().message().find(part), std::string::npos) << t.status();
  }

  void ExpectLoadError(absl::StatusCode code, const std::vector<std::string>& parts) {
    absl::StatusOr<HfModel> hf = LoadHfModel(dir_);
    ASSERT_FALSE(hf.ok());
    EXPECT_EQ(hf.status().code(), code) << hf.status();
    for (const std::string& part : parts) {
      EXPECT_NE(hf.status().message().find(part), std::string::npos) << hf.status();
    }
  }

  TempDir tmp_{"ftd_nf4_corrupt"};
  const std::string dir_ = tmp_.path();
};

TEST_F(CorruptNf4Test, MissingAbsmax) {
  CopyFixture(kNf4Dq);
  EditWeights([](std::map<std::string, Tensor>& t) { t.erase(kQ + ".absmax"); });
  ExpectReadError(absl::StatusCode::kInvalidArgument, {kQ + ".absmax is missing"});
}

TEST_F(CorruptNf4Test, AbsmaxOfTheWrongKind) {
  // fp32-absmax directory whose absmax tensor holds 8-bit codes (as under double quantisation).
  CopyFixture(kNf4);
  EditWeights([](std::map<std::string, Tensor>& t) { t[kQ + ".absmax"] = Tensor::Zeros(DType::kU8, {16}); });
  ExpectReadError(absl::StatusCode::kInvalidArgument, {kQ + ".absmax is U8 [16], expected F32 [16]"});
}

TEST_F(CorruptNf4Test, ConfigClaimsDoubleQuant) {
  // The quant_state is checked before the nested tensors, so its missing nested keys are what is reported.
  CopyFixture(kNf4);
  EditConfig("bnb_4bit_use_double_quant", true);
  ExpectReadError(absl::StatusCode::kInvalidArgument, {"\"nested_blocksize\" is missing"});
}

TEST_F(CorruptNf4Test, QuantTypeFp4) {
  CopyFixture(kNf4Dq);
  EditQuantState("\"nf4\"", "\"fp4\"");
  ExpectReadError(absl::StatusCode::kInvalidArgument, {"\"quant_type\" is \"fp4\", expected nf4"});
}

TEST_F(CorruptNf4Test, Blocksize128) {
  CopyFixture(kNf4);
  EditQuantState("\"blocksize\": 64", "\"blocksize\": 128");
  ExpectReadError(absl::StatusCode::kInvalidArgument, {"\"blocksize\" is 128, expected 64"});
}

TEST_F(CorruptNf4Test, NestedBlocksize) {
  CopyFixture(kNf4Dq);
  EditQuantState("\"nested_blocksize\": 256", "\"nested_blocksize\": 128");
  ExpectReadError(absl::StatusCode::kInvalidArgument, {"\"nested_blocksize\" is 128, expected 256"});
}

TEST_F(CorruptNf4Test, WrongShapeInQuantState) {
  CopyFixture(kNf4Dq);
  EditQuantState("[32, 32]", "[16, 64]");  // Same element count: only the state says the shape is wrong.
  ExpectReadError(absl::StatusCode::kInvalidArgument, {"\"shape\" is [16,64]", "implies [32, 32]"});
}

TEST_F(CorruptNf4Test, TruncatedQuantStateJson) {
  CopyFixture(kNf4Dq);
  EditWeights([](std::map<std::string, Tensor>& t) {
    Tensor& state = t.at(kQ + ".quant_state.bitsandbytes__nf4");
    state.data.resize(state.data.size() / 2);
    state.shape = {static_cast<int64_t>(state.data.size())};
  });
  ExpectReadError(absl::StatusCode::kInvalidArgument, {kQ + ".quant_state.bitsandbytes__nf4", "not valid JSON"});
}

TEST_F(CorruptNf4Test, QuantMapEdited) {
  CopyFixture(kNf4);
  EditWeights([](std::map<std::string, Tensor>& t) {
    Tensor& map = t.at(kQ + ".quant_map");
    float v;
    std::memcpy(&v, map.data.data() + 4 * 3, 4);
    v = std::nextafter(v, 0.0f);
    std::memcpy(map.data.data() + 4 * 3, &v, 4);
  });
  ExpectReadError(absl::StatusCode::kInvalidArgument, {kQ + ".quant_map is not the NF4 code table"});
}

TEST_F(CorruptNf4Test, NestedQuantMapEdited) {
  CopyFixture(kNf4Dq);
  EditWeights([](std::map<std::string, Tensor>& t) { t.at(kQ + ".nested_quant_map").data[40] ^= 1; });
  ExpectReadError(absl::StatusCode::kInvalidArgument,
                  {kQ + ".nested_quant_map is not bitsandbytes' signed dynamic map"});
}

TEST_F(CorruptNf4Test, NestedKeysWithoutDoubleQuant) {
  CopyFixture(kNf4Dq);
  EditConfig("bnb_4bit_use_double_quant", false);
  // absmax is U8 (codes), which an fp32-absmax directory cannot hold; the quant_map check passes first, then
  // the quant_state's nested keys contradict the config.
  ExpectReadError(absl::StatusCode::kInvalidArgument, {"\"nested_blocksize\"", "bnb_4bit_use_double_quant is false"});
}

TEST_F(CorruptNf4Test, PackedWeightNotU8) {
  CopyFixture(kNf4);
  EditWeights([](std::map<std::string, Tensor>& t) { t[kQ] = Tensor::Zeros(DType::kF32, {32, 32}); });
  ExpectLoadError(absl::StatusCode::kInvalidArgument, {kQ, "is F32 [32, 32]", "as U8 [512, 1]"});
}

TEST_F(CorruptNf4Test, ConfigLoadIn8bit) {
  CopyFixture(kNf4);
  EditConfig("load_in_8bit", true);
  ExpectLoadError(absl::StatusCode::kUnimplemented, {"config.json", "quantization_config.load_in_8bit"});
}

TEST_F(CorruptNf4Test, ConfigFp4) {
  CopyFixture(kNf4);
  EditConfig("bnb_4bit_quant_type", "fp4");
  ExpectLoadError(absl::StatusCode::kUnimplemented, {"quantization_config.bnb_4bit_quant_type", "\"fp4\""});
}

TEST_F(CorruptNf4Test, ConfigOtherMethod) {
  CopyFixture(kNf4);
  EditConfig("quant_method", "gptq");
  ExpectLoadError(absl::StatusCode::kUnimplemented, {"quantization_config.quant_method", "\"gptq\""});
}

TEST_F(CorruptNf4Test, ConfigMistypedFlag) {
  CopyFixture(kNf4);
  EditConfig("bnb_4bit_use_double_quant", "yes");
  ExpectLoadError(absl::StatusCode::kInvalidArgument, {"quantization_config.bnb_4bit_use_double_quant"});
}

TEST_F(CorruptNf4Test, ConfigSkipsAProjection) {
  CopyFixture(kNf4);
  EditConfig("llm_int8_skip_modules", nlohmann::json::array({"lm_head", "down_proj"}));
  ExpectLoadError(absl::StatusCode::kUnimplemented, {"quantization_config.llm_int8_skip_modules", "down_proj"});
}

}  // namespace
}  // namespace ftd
