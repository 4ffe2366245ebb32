// Content hashes of models and benchmark data (worker/service/content_hash.h): the rule for files, trees and
// model+adapter pairs, a quantised scoring kept apart, a moved copy hashing the same and an edit not, PIQA's labels
// file counted with its JSONL.
#include "worker/service/content_hash.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

void Write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

TEST(ContentHashTest, FilesTreesAndModelsWithAdapters) {
  TempDir dir("ftd_content_hash");
  Write(dir.file("model/config.json"), "{}");
  Write(dir.file("model/sub/weights.bin"), "abc");
  absl::StatusOr<std::string> file = ContentSha256(dir.file("model/sub/weights.bin"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(*file, Sha256Hex("abc"));
  // The tree rule, spelled out: "path\0sha\n" lines in path order.
  const std::string lines = absl::StrCat("config.json", std::string(1, '\0'), Sha256Hex("{}"), "\n", "sub/weights.bin",
                                         std::string(1, '\0'), Sha256Hex("abc"), "\n");
  absl::StatusOr<std::string> tree = ContentSha256(dir.file("model"));
  ASSERT_TRUE(tree.ok()) << tree.status();
  EXPECT_EQ(*tree, Sha256Hex(lines));

  // A copy elsewhere hashes the same; an edited byte does not.
  std::filesystem::copy(dir.file("model"), dir.file("copy"), std::filesystem::copy_options::recursive);
  EXPECT_EQ(*ContentSha256(dir.file("copy")), *tree);
  Write(dir.file("copy/sub/weights.bin"), "abd");
  EXPECT_NE(*ContentSha256(dir.file("copy")), *tree);

  Write(dir.file("adapter/adapter_config.json"), "{\"r\": 4}");
  absl::StatusOr<std::string> with_adapter = ModelSha256(dir.file("model"), dir.file("adapter"));
  ASSERT_TRUE(with_adapter.ok());
  EXPECT_EQ(*with_adapter, Sha256Hex(absl::StrCat(*tree, "+", *ContentSha256(dir.file("adapter")))));
  EXPECT_EQ(*ModelSha256(dir.file("model"), ""), *tree);

  // The same files scored with the base NF4-quantised at load are another model: never the unquantised key.
  EXPECT_EQ(QuantizedModelSha256(*with_adapter, ""), *with_adapter);
  EXPECT_EQ(QuantizedModelSha256(*with_adapter, "nf4-double-quant"),
            Sha256Hex(absl::StrCat(*with_adapter, "|quantize-base=nf4-double-quant")));
  EXPECT_NE(QuantizedModelSha256(*with_adapter, "nf4"), QuantizedModelSha256(*with_adapter, "nf4-double-quant"));

  const absl::Status missing = ContentSha256(dir.file("nope")).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.message()), ::testing::HasSubstr(dir.file("nope")));
}

TEST(ContentHashTest, PiqaCountsItsLabelsFile) {
  TempDir dir("ftd_content_hash");
  Write(dir.file("piqa/valid.jsonl"), "{\"goal\": \"g\"}\n");
  Write(dir.file("piqa/valid-labels.lst"), "0\n");
  v1::Benchmark piqa;
  piqa.set_suite(v1::BENCHMARK_SUITE_PIQA);
  piqa.set_path(dir.file("piqa/valid.jsonl"));
  absl::StatusOr<std::string> before = BenchmarkDataSha256(piqa);
  ASSERT_TRUE(before.ok()) << before.status();
  Write(dir.file("piqa/valid-labels.lst"), "1\n");
  EXPECT_NE(*BenchmarkDataSha256(piqa), *before);

  v1::Benchmark text;
  text.set_suite(v1::BENCHMARK_SUITE_PERPLEXITY);
  text.set_path(dir.file("piqa/valid.jsonl"));
  EXPECT_EQ(*BenchmarkDataSha256(text), Sha256Hex("{\"goal\": \"g\"}\n"));
  v1::Benchmark needle;
  needle.set_suite(v1::BENCHMARK_SUITE_LONG_CONTEXT);
  EXPECT_EQ(*BenchmarkDataSha256(needle), "");
}

}  // namespace
}  // namespace ftd
