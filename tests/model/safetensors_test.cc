// Tests of model/safetensors: round trips for every dtype, byte equality with the reference writer, hostile
// headers (each asserting its code and message), atomic writes, and sharded model directories.
#include "model/safetensors.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;


std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteRaw(const std::string& path, absl::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string Le64(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out;
}

// A safetensors image: length prefix (the header's own size unless `n` overrides it), header, data bytes.
std::string Image(absl::string_view header, size_t data_bytes, std::optional<uint64_t> n = std::nullopt) {
  std::string out = Le64(n.value_or(header.size()));
  out.append(header.data(), header.size());
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<char>(i * 7 + 1));
  return out;
}

absl::StatusOr<SafetensorsHeader> Parse(absl::string_view image) {
  return ParseSafetensors(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(image.data()), image.size()));
}

// Names of the files in `dir`, sorted.
std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

Tensor RandomTensor(DType dtype, std::vector<int64_t> shape, uint32_t seed) {
  Tensor t = Tensor::Zeros(dtype, std::move(shape));
  std::mt19937 rng(seed);
  for (uint8_t& b : t.data) b = static_cast<uint8_t>(rng());
  return t;
}

void ExpectSameTensor(const TensorView& got, const Tensor& want) {
  EXPECT_EQ(got.dtype, want.dtype);
  EXPECT_EQ(got.shape, want.shape);
  EXPECT_EQ(std::vector<uint8_t>(got.data.begin(), got.data.end()), want.data);
}

TEST(SafetensorsTest, RoundTripsEveryDtypeAlignedWithMetadata) {
  TempDir dir("ftd_safetensors");
  const DType all[] = {DType::kF64, DType::kF32, DType::kF16, DType::kBF16, DType::kI64,
                       DType::kI32, DType::kI16, DType::kI8,  DType::kU8,   DType::kBool};
  std::vector<std::pair<std::string, Tensor>> owned;
  uint32_t seed = 1;
  for (DType dtype : all) {
    owned.emplace_back(absl::StrCat("t.", DTypeName(dtype)), RandomTensor(dtype, {3, 5}, seed++));
    owned.emplace_back(absl::StrCat("scalar.", DTypeName(dtype)), RandomTensor(dtype, {}, seed++));
  }
  owned.emplace_back("empty", RandomTensor(DType::kF32, {0, 4}, seed++));
  owned.emplace_back("odd.bytes", RandomTensor(DType::kU8, {7}, seed++));  // Misaligns whatever would follow.
  std::vector<std::pair<std::string, TensorView>> views;
  for (const auto& [name, t] : owned) views.emplace_back(name, t.view());
  const std::string path = dir.file("all.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, views, {{"format", "pt"}, {"note", "h\xC3\xA9\n\"x\""}}).ok());

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->header().metadata.at("note"), "h\xC3\xA9\n\"x\"");
  EXPECT_EQ((*file)->header().metadata.at("format"), "pt");
  EXPECT_EQ((*file)->header().data_start % 8, 0u);
  EXPECT_EQ((*file)->names().size(), owned.size());
  for (const auto& [name, t] : owned) {
    absl::StatusOr<TensorView> got = (*file)->Get(name);
    ASSERT_TRUE(got.ok()) << got.status();
    ExpectSameTensor(*got, t);
    if (!t.data.empty()) {  // The reference layout aligns every tensor to its element size.
      EXPECT_EQ(reinterpret_cast<uintptr_t>(got->data.data()) % DTypeSize(t.dtype), 0u) << name;
    }
  }
  absl::StatusOr<TensorView> missing = (*file)->Get("nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), StartsWith(path));
  EXPECT_FALSE((*file)->contains("nope"));
}

// Expected bytes from the reference implementation's own serialization tests.
TEST(SafetensorsTest, BytesEqualTheReferenceWriter) {
  TempDir dir("ftd_safetensors");
  const std::string path = dir.file("x.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {}).ok());
  EXPECT_EQ(ReadAll(path), Le64(8) + "{}      ");
  ASSERT_TRUE(WriteSafetensors(path, {}, {{"framework", "pt"}}).ok());
  EXPECT_EQ(ReadAll(path), Le64(40) + "{\"__metadata__\":{\"framework\":\"pt\"}}     ");

  Tensor t = Tensor::FromF32({1, 2, 3}, {0, 1, 2, 3, 4, 5});
  ASSERT_TRUE(WriteSafetensors(path, {{"attn.0", t.view()}}).ok());
  const std::string data(reinterpret_cast<const char*>(t.data.data()), t.data.size());
  EXPECT_EQ(ReadAll(path),
            Le64(64) + "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}" + data);
  t.shape = {1, 1, 2, 3};
  ASSERT_TRUE(WriteSafetensors(path, {{"attn0", t.view()}}).ok());
  EXPECT_EQ(ReadAll(path),
            Le64(72) + "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       " + data);

  // Data order: descending dtype alignment rank, then name; the header lists entries in that order.
  Tensor u8 = Tensor::Zeros(DType::kU8, {1}), f32 = Tensor::Zeros(DType::kF32, {1});
  Tensor i64 = Tensor::Zeros(DType::kI64, {1}), bf16 = Tensor::Zeros(DType::kBF16, {1});
  ASSERT_TRUE(WriteSafetensors(
                  path, {{"b", u8.view()}, {"z", f32.view()}, {"a", f32.view()}, {"c", i64.view()}, {"d", bf16.view()}})
                  .ok());
  const std::string bytes = ReadAll(path);
  const std::string header = bytes.substr(8, bytes.size() - 8 - 19);
  EXPECT_EQ(header,
            "{\"c\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
            "\"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]},"
            "\"d\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[16,18]},"
            "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[18,19]}}       ");
  EXPECT_EQ(header.size() % 8, 0u);
}

TEST(SafetensorsTest, AcceptsValidEdgeCases) {
  // Empty header, null metadata, leading whitespace, zero-size tensors at the same offset, a scalar.
  EXPECT_TRUE(Parse(Image("{}", 0)).ok());
  EXPECT_TRUE(Parse(Image("{\"__metadata__\":null}", 0)).ok());
  absl::StatusOr<SafetensorsHeader> h =
      Parse(Image("  {\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                  "\"s\":{\"dtype\":\"I16\",\"shape\":[],\"data_offsets\":[0,2]},"
                  "\"f\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[2,2]}}   ",
                  2));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->tensors.at("s").shape, std::vector<int64_t>{});
  EXPECT_EQ(h->tensors.at("f").begin, 2u);
}

struct HostileCase {
  const char* label;
  std::string header;
  size_t data_bytes;
  absl::StatusCode code;
  std::string message;  // Expected substring.
};

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

std::string Entry(absl::string_view name, absl::string_view dtype, absl::string_view shape, absl::string_view offsets) {
  return absl::StrCat("\"", name, "\":{\"dtype\":\"", dtype, "\",\"shape\":", shape, ",\"data_offsets\":", offsets,
                      "}");
}

TEST(SafetensorsTest, RejectsHostileHeadersWithTheirCause) {
  const std::string w = Entry("w", "F32", "[2]", "[0,8]");
  const std::vector<HostileCase> cases = {
      {"bad json", "{\"w\":", 0, kInvalid, "header is not valid JSON"},
      {"not an object", "[1,2]", 0, kInvalid, "header is a JSON array, not an object"},
      {"invalid utf-8", "{\"\xC3\x28\":1}", 0, kInvalid, "header is not valid UTF-8 (byte 10 of the file)"},
      {"unknown dtype", "{" + Entry("w", "F8_E4M3", "[1]", "[0,1]") + "}", 1, kInvalid,
       "tensor \"w\": unsupported dtype \"F8_E4M3\""},
      {"dtype not a string", "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, kInvalid,
       "tensor \"w\": dtype is a JSON number, not a string"},
      {"negative dim", "{" + Entry("w", "F32", "[2,-1]", "[0,8]") + "}", 8, kInvalid,
       "tensor \"w\": shape [2,-1] has a negative dimension"},
      {"float dim", "{" + Entry("w", "F32", "[2.0]", "[0,8]") + "}", 8, kInvalid, "non-integer dimension"},
      {"overflowing shape", "{" + Entry("w", "F32", "[4294967296,4294967296,0]", "[0,0]") + "}", 0, kInvalid,
       "tensor \"w\": shape [4294967296, 4294967296, 0] overflows the element count"},
      {"overflowing bytes", "{" + Entry("w", "F64", "[2305843009213693952]", "[0,8]") + "}", 8, kInvalid,
       "overflows the byte count"},
      {"dim above int64", "{" + Entry("w", "U8", "[9223372036854775808]", "[0,1]") + "}", 1, kInvalid,
       "overflows the element count"},
      {"offsets reversed", "{" + Entry("w", "F32", "[2]", "[8,0]") + "}", 8, kInvalid,
       "tensor \"w\": data_offsets [8, 0] are reversed (begin > end)"},
      {"offsets not two", "{" + Entry("w", "F32", "[2]", "[0,8,8]") + "}", 8, kInvalid,
       "tensor \"w\": data_offsets [0,8,8] are not two non-negative integers"},
      {"negative offset", "{" + Entry("w", "F32", "[2]", "[-8,0]") + "}", 8, kInvalid, "are not two non-negative"},
      {"size mismatch", "{" + Entry("w", "F32", "[2,2]", "[0,12]") + "}", 12, kInvalid,
       "tensor \"w\": data_offsets [0, 12] hold 12 bytes but shape [2, 2] x F32 needs 16"},
      {"offsets out of range", "{" + Entry("w", "F32", "[4]", "[0,16]") + "}", 8, absl::StatusCode::kDataLoss,
       "tensor \"w\" data_offsets [0, 16] ends at byte"},
      {"overlap", "{" + w + "," + Entry("v", "F32", "[2]", "[4,12]") + "}", 12, kInvalid,
       "tensor \"v\": data_offsets [4, 12] overlap tensor \"w\" which ends at 8"},
      {"gap", "{" + Entry("a", "F32", "[1]", "[0,4]") + "," + Entry("b", "F32", "[1]", "[8,12]") + "}", 12, kInvalid,
       "tensor \"b\": data_offsets [8, 12] leave a gap: bytes [4, 8) belong to no tensor"},
      {"not from zero", "{" + Entry("a", "F32", "[1]", "[4,8]") + "}", 8, kInvalid, "bytes [0, 4) belong to no"},
      {"trailing bytes", "{" + w + "}", 16, kInvalid,
       "data buffer is 16 bytes but the tensors cover 8 (trailing bytes after the last tensor)"},
      {"duplicate tensor", "{" + w + "," + w + "}", 8, kInvalid, "header: duplicate key \"w\""},
      {"duplicate field", "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
       kInvalid, "header: duplicate key \"dtype\" in \"w\""},
      {"duplicate metadata", "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, kInvalid,
       "duplicate key \"a\" in \"__metadata__\""},
      {"metadata non-string", "{\"__metadata__\":{\"format\":1}," + w + "}", 8, kInvalid,
       "\"__metadata__\" value of \"format\" is a JSON number, not a string"},
      {"metadata not object", "{\"__metadata__\":[\"pt\"]}", 0, kInvalid, "\"__metadata__\" is a JSON array"},
      {"missing field", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, kInvalid,
       "tensor \"w\": missing field \"data_offsets\""},
      {"extra field", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"foo\":1}}", 8, kInvalid,
       "tensor \"w\": unexpected field \"foo\""},
      {"entry not an object", "{\"w\":\"F32\"}", 0, kInvalid, "tensor \"w\": entry is a JSON string, not an object"},
      {"control chars quoted", "{\"a\\nb\":1}", 0, kInvalid, "tensor \"a\\nb\": entry is a JSON number"},
      {"too deep", "{\"w\":" + std::string(200, '[') + std::string(200, ']') + "}", 0, kInvalid,
       "header nests deeper than 128 levels"},
      {"huge number", "{\"w\":1e999}", 0, kInvalid, "header is not valid JSON"},
  };
  for (const HostileCase& c : cases) {
    SCOPED_TRACE(c.label);
    absl::StatusOr<SafetensorsHeader> got = Parse(Image(c.header, c.data_bytes));
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), c.code) << got.status();
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(c.message));
  }
}

TEST(SafetensorsTest, RejectsBadLengthPrefix) {
  absl::StatusOr<SafetensorsHeader> got = Parse(std::string("\x08\x00\x00\x00\x00", 5));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(got.status().message(), "file is 5 bytes, too short for the 8-byte header length");

  got = Parse(Image("{}", 0, uint64_t{1} << 63));
  EXPECT_EQ(got.status().code(), kInvalid);
  EXPECT_EQ(got.status().message(), "header length 9223372036854775808 exceeds the limit of 104857600 bytes");
  got = Parse(Image("{}", 0, ~uint64_t{0}));  // 8 + N would wrap around.
  EXPECT_EQ(got.status().code(), kInvalid);

  std::string image = Image("{}", 0, 4000);
  image.resize(100, ' ');
  got = Parse(image);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(got.status().message(), "file is 100 bytes but the header says 8 + 4000");
}

TEST(SafetensorsTest, TruncatedFileIsDataLossNamingThePath) {
  TempDir dir("ftd_safetensors");
  Tensor t = Tensor::FromF32({4}, {1, 2, 3, 4});
  const std::string path = dir.file("t.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"w", t.view()}}).ok());
  std::string bytes = ReadAll(path);
  WriteRaw(path, bytes.substr(0, bytes.size() - 1));
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(file.status().message()), StartsWith(path + ": file is "));

  WriteRaw(path, "");
  file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(file.status().message(), path + ": file is 0 bytes, too short for the 8-byte header length");
}

TEST(SafetensorsTest, OpenReportsOsErrors) {
  TempDir dir("ftd_safetensors");
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(dir.file("missing.safetensors"));
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(file.status().message()), StartsWith(dir.file("missing.safetensors")));
  file = SafetensorsFile::Open(dir.path());
  EXPECT_EQ(file.status().code(), kInvalid);
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("not a regular file"));

  const std::string locked = dir.file("locked.safetensors");
  ASSERT_TRUE(WriteSafetensors(locked, {}).ok());
  ASSERT_EQ(::chmod(locked.c_str(), 0), 0);
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: permission bits do not deny reads";
  file = SafetensorsFile::Open(locked);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(file.status().message()), StartsWith(locked));
}

TEST(SafetensorsTest, WriteRejectsBadInputAndLeavesTheOldFile) {
  TempDir dir("ftd_safetensors");
  const std::string path = dir.file("t.safetensors");
  Tensor t = Tensor::FromF32({2}, {1, 2});
  ASSERT_TRUE(WriteSafetensors(path, {{"w", t.view()}}).ok());
  const std::string before = ReadAll(path);
  TensorView wrong = t.view();
  wrong.shape = {3};
  TensorView negative = t.view();
  negative.shape = {-2, -1};
  const std::vector<std::pair<std::vector<std::pair<std::string, TensorView>>, std::string>> cases = {
      {{{"w", t.view()}, {"w", t.view()}}, "tensor \"w\": duplicate name"},
      {{{"__metadata__", t.view()}}, "the name is reserved"},
      {{{"w", wrong}}, "tensor \"w\": shape [3] x F32 needs 12 bytes but the view has 8"},
      {{{"w", negative}}, "has a negative dimension"},
      {{{"\xFF", t.view()}}, "name is not valid UTF-8"},
  };
  for (const auto& [tensors, message] : cases) {
    absl::Status s = WriteSafetensors(path, tensors);
    EXPECT_EQ(s.code(), kInvalid) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(message));
    EXPECT_THAT(std::string(s.message()), StartsWith(path));
  }
  EXPECT_EQ(ReadAll(path), before);
  EXPECT_THAT(ListDir(dir.path()), ElementsAre("t.safetensors"));
}

TEST(SafetensorsTest, FailedWriteLeavesNoPartialFile) {
  TempDir dir("ftd_safetensors");
  Tensor big = Tensor::Zeros(DType::kU8, {1 << 20});
  // Renaming over a directory fails after all bytes are written: the temp file must go.
  ASSERT_EQ(::mkdir(dir.file("taken").c_str(), 0755), 0);
  absl::Status s = WriteSafetensors(dir.file("taken"), {{"w", big.view()}});
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(ListDir(dir.path()), ElementsAre("taken"));

  // A write that fails midway (file size limit): neither `path` nor a temp file remains.
  const std::string path = dir.file("big.safetensors");
  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit limit = old_limit;
  limit.rlim_cur = 64 << 10;
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  s = WriteSafetensors(path, {{"w", big.view()}});
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), StartsWith(path + ": write failed"));
  EXPECT_THAT(ListDir(dir.path()), ElementsAre("taken"));
}

std::vector<std::pair<std::string, Tensor>> SmallModel() {
  std::vector<std::pair<std::string, Tensor>> out;
  out.emplace_back("model.embed_tokens.weight", RandomTensor(DType::kBF16, {8, 4}, 1));              // 64 bytes.
  out.emplace_back("model.layers.0.self_attn.q_proj.weight", RandomTensor(DType::kF32, {4, 4}, 2));  // 64.
  out.emplace_back("model.layers.0.input_layernorm.weight", RandomTensor(DType::kF32, {4}, 3));      // 16.
  out.emplace_back("model.norm.weight", RandomTensor(DType::kF16, {4}, 4));                          // 8.
  out.emplace_back("lm_head.weight", RandomTensor(DType::kF32, {8, 8}, 5));  // 256: above the 100-byte limit.
  out.emplace_back("model.extra", RandomTensor(DType::kI64, {2}, 6));        // 16.
  return out;
}

std::vector<std::pair<std::string, TensorView>> Views(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::vector<std::pair<std::string, TensorView>> out;
  for (const auto& [name, t] : tensors) out.emplace_back(name, t.view());
  return out;
}

void ExpectModel(const SafetensorsModel& model, const std::vector<std::pair<std::string, Tensor>>& tensors) {
  EXPECT_EQ(model.names().size(), tensors.size());
  uint64_t total = 0;
  for (const auto& [name, t] : tensors) {
    absl::StatusOr<TensorView> got = model.Get(name);
    ASSERT_TRUE(got.ok()) << got.status();
    ExpectSameTensor(*got, t);
    total += t.data.size();
  }
  EXPECT_EQ(model.total_bytes(), total);
}

TEST(SafetensorsModelTest, WritesAndReadsOneFile) {
  TempDir dir("ftd_safetensors");
  const auto tensors = SmallModel();
  const std::string model_dir = dir.file("model");  // Created by the writer.
  ASSERT_TRUE(WriteSafetensorsModel(model_dir, Views(tensors)).ok());
  EXPECT_THAT(ListDir(model_dir), ElementsAre("model.safetensors"));
  absl::StatusOr<std::unique_ptr<SafetensorsModel>> model = SafetensorsModel::OpenDir(model_dir);
  ASSERT_TRUE(model.ok()) << model.status();
  ExpectModel(**model, tensors);
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(model_dir + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)->header().metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_EQ((*model)->Get("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(SafetensorsModelTest, WritesAndReadsShardsLikeSavePretrained) {
  TempDir dir("ftd_safetensors");
  const auto tensors = SmallModel();
  ASSERT_TRUE(WriteSafetensorsModel(dir.path(), Views(tensors), /*max_shard_bytes=*/100).ok());
  // Planned as huggingface_hub does: [embed 64] closes when q_proj would tip it over 100; lm_head (256) gets
  // its own shard at once, before the open [q_proj, layernorm, norm] shard, which closes on model.extra.
  EXPECT_THAT(ListDir(dir.path()), ElementsAre("model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                                               "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
                                               "model.safetensors.index.json"));
  const nlohmann::json index = nlohmann::json::parse(ReadAll(dir.file("model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"], 424);
  EXPECT_EQ(index["metadata"]["total_parameters"], 32 + 16 + 4 + 4 + 64 + 2);
  const nlohmann::json& map = index["weight_map"];
  EXPECT_EQ(map["model.embed_tokens.weight"], "model-00001-of-00004.safetensors");
  EXPECT_EQ(map["lm_head.weight"], "model-00002-of-00004.safetensors");
  EXPECT_EQ(map["model.layers.0.self_attn.q_proj.weight"], "model-00003-of-00004.safetensors");
  EXPECT_EQ(map["model.layers.0.input_layernorm.weight"], "model-00003-of-00004.safetensors");
  EXPECT_EQ(map["model.norm.weight"], "model-00003-of-00004.safetensors");
  EXPECT_EQ(map["model.extra"], "model-00004-of-00004.safetensors");
  absl::StatusOr<std::unique_ptr<SafetensorsModel>> model = SafetensorsModel::OpenDir(dir.path());
  ASSERT_TRUE(model.ok()) << model.status();
  ExpectModel(**model, tensors);

  // Saving again as one file removes the shards and the index (a stale layout must not shadow the new one).
  ASSERT_TRUE(WriteSafetensorsModel(dir.path(), Views(tensors)).ok());
  EXPECT_THAT(ListDir(dir.path()), ElementsAre("model.safetensors"));
}

// Writes a sharded model, then lets `edit` break it; returns OpenDir's status.
absl::Status OpenEdited(const TempDir& dir, const std::function<void(nlohmann::json&)>& edit) {
  const auto tensors = SmallModel();
  EXPECT_TRUE(WriteSafetensorsModel(dir.path(), Views(tensors), 100).ok());
  const std::string index_path = dir.file("model.safetensors.index.json");
  nlohmann::json index = nlohmann::json::parse(ReadAll(index_path));
  edit(index);
  WriteRaw(index_path, index.dump(2));
  return SafetensorsModel::OpenDir(dir.path()).status();
}

TEST(SafetensorsModelTest, RejectsBrokenIndexes) {
  {
    TempDir dir("ftd_safetensors");
    absl::Status s = OpenEdited(dir, [](nlohmann::json&) {});
    EXPECT_TRUE(s.ok()) << s;
  }
  {
    TempDir dir("ftd_safetensors");  // Missing shard.
    absl::Status s =
        OpenEdited(dir, [&](nlohmann::json&) { std::remove(dir.file("model-00002-of-00004.safetensors").c_str()); });
    EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(std::string(s.message()), StartsWith(dir.file("model-00002-of-00004.safetensors")));
  }
  {
    TempDir dir("ftd_safetensors");  // Tensor listed in a shard that does not hold it.
    absl::Status s =
        OpenEdited(dir, [](nlohmann::json& i) { i["weight_map"]["ghost"] = "model-00001-of-00004.safetensors"; });
    EXPECT_EQ(s.code(), kInvalid);
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("lists tensor \"ghost\" in model-00001-of-00004.safetensors but that shard "
                          "does not hold it"));
  }
  {
    TempDir dir("ftd_safetensors");  // Tensors in two shards: a copy of shard 3 listed for one of its tensors, shard 3 for the rest.
    absl::Status s = OpenEdited(dir, [&](nlohmann::json& i) {
      std::filesystem::copy_file(dir.file("model-00003-of-00004.safetensors"), dir.file("copy.safetensors"));
      i["weight_map"]["model.norm.weight"] = "copy.safetensors";
    });
    EXPECT_EQ(s.code(), kInvalid);
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("tensor \"model.layers.0.input_layernorm.weight\" is in two shards"));
  }
  {
    TempDir dir("ftd_safetensors");  // Path traversal.
    absl::Status s =
        OpenEdited(dir, [](nlohmann::json& i) { i["weight_map"]["model.norm.weight"] = "../x.safetensors"; });
    EXPECT_EQ(s.code(), kInvalid);
    EXPECT_THAT(std::string(s.message()), HasSubstr("is not a file name in the directory"));
  }
  {
    TempDir dir("ftd_safetensors");
    absl::Status s = OpenEdited(dir, [](nlohmann::json& i) { i.erase("weight_map"); });
    EXPECT_THAT(std::string(s.message()), HasSubstr("has no \"weight_map\" object"));
  }
  {
    TempDir dir("ftd_safetensors");  // Duplicate keys in the index are caught like in headers.
    EXPECT_TRUE(OpenEdited(dir, [](nlohmann::json&) {}).ok());
    WriteRaw(dir.file("model.safetensors.index.json"),
             "{\"weight_map\":{\"a\":\"model-00001-of-00004.safetensors\",\"a\":\"x\"}}");
    absl::Status s = SafetensorsModel::OpenDir(dir.path()).status();
    EXPECT_THAT(std::string(s.message()), HasSubstr("duplicate key \"a\" in \"weight_map\""));
  }
  {
    TempDir dir("ftd_safetensors");
    absl::Status s = SafetensorsModel::OpenDir(dir.path()).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    s = SafetensorsModel::OpenDir(dir.file("nope")).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  }
}

// Files written by torch (transformers save_pretrained), generated by tests/fixtures/model_io/ scripts. Our
// writer must reproduce them byte for byte from what we read: same layout rules as the reference.
TEST(SafetensorsFixtureTest, ReadsAndRewritesTorchFilesByteForByte) {
  const std::string root = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io";
  if (!std::filesystem::is_directory(root)) GTEST_SKIP() << root << " is absent: no torch-written fixtures";
  int checked = 0;
  TempDir dir("ftd_safetensors");
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.path().extension() != ".safetensors") continue;
    SCOPED_TRACE(entry.path().string());
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(entry.path().string());
    ASSERT_TRUE(file.ok()) << file.status();
    std::vector<std::pair<std::string, TensorView>> views;
    for (const std::string& name : (*file)->names()) views.emplace_back(name, *(*file)->Get(name));
    const std::string copy = dir.file("copy.safetensors");
    ASSERT_TRUE(WriteSafetensors(copy, views, (*file)->header().metadata).ok());
    EXPECT_EQ(ReadAll(copy), ReadAll(entry.path().string()));
    ++checked;
  }
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    if (!std::filesystem::exists(entry.path() / "model.safetensors") &&
        !std::filesystem::exists(entry.path() / "model.safetensors.index.json")) {
      continue;
    }
    absl::StatusOr<std::unique_ptr<SafetensorsModel>> model = SafetensorsModel::OpenDir(entry.path().string());
    EXPECT_TRUE(model.ok()) << model.status();
  }
  if (checked == 0) GTEST_SKIP() << root << " holds no .safetensors files";
}

// reference.json beside a fixture model: per tensor the torch dtype, shape, first 8 values and sum.
TEST(SafetensorsFixtureTest, MatchesTorchReferenceValues) {
  const std::string root = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io";
  int checked = 0;
  for (const char* name : {"tiny_llama", "tiny_qwen2"}) {
    const std::string model_dir = absl::StrCat(root, "/", name);
    if (!std::filesystem::exists(model_dir + "/reference.json")) continue;
    SCOPED_TRACE(model_dir);
    const nlohmann::json reference = nlohmann::json::parse(ReadAll(model_dir + "/reference.json"))["tensors"];
    absl::StatusOr<std::unique_ptr<SafetensorsModel>> model = SafetensorsModel::OpenDir(model_dir);
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_FALSE(reference.empty());  // A sample of the tensors, each with the shard torch read it from.
    const std::map<std::string, DType> torch_dtypes = {
        {"float32", DType::kF32}, {"bfloat16", DType::kBF16}, {"float16", DType::kF16}, {"float64", DType::kF64}};
    for (const auto& [tensor_name, want] : reference.items()) {
      SCOPED_TRACE(tensor_name);
      absl::StatusOr<TensorView> got = (*model)->Get(tensor_name);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->dtype, torch_dtypes.at(want["dtype"].get<std::string>()));
      EXPECT_EQ(got->shape, want["shape"].get<std::vector<int64_t>>());
      absl::StatusOr<std::unique_ptr<SafetensorsFile>> shard =
          SafetensorsFile::Open(absl::StrCat(model_dir, "/", want["file"].get<std::string>()));
      ASSERT_TRUE(shard.ok()) << shard.status();
      EXPECT_TRUE((*shard)->contains(tensor_name));
      absl::StatusOr<std::vector<float>> values = ToF32(*got);
      ASSERT_TRUE(values.ok()) << values.status();
      const std::vector<double> first8 = want["first8"].get<std::vector<double>>();
      for (size_t i = 0; i < first8.size() && i < values->size(); ++i) {
        EXPECT_EQ((*values)[i], static_cast<float>(first8[i])) << i;  // Exact: the same fp32 bits.
      }
      double sum = 0;
      for (float v : *values) sum += v;
      // Summation order differs from torch's (pairwise, fp32 or fp64): compare relative to sum_abs.
      EXPECT_NEAR(sum, want["sum"].get<double>(), 1e-5 * (1 + want["sum_abs"].get<double>()));
      ++checked;
    }
  }
  if (checked == 0) GTEST_SKIP() << "no reference.json under " << root;
}

}  // namespace
}  // namespace ftd
