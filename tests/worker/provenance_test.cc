// provenance.json: what BuildProvenanceJson writes for a final result (spec, file hashes) and the spec read back by
// ParseProvenanceSpec, which is how an evaluation of another job's result learns its base model and method.
#include "worker/service/provenance.h"

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

using ::testing::HasSubstr;

void Write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

TEST(ProvenanceTest, RecordsTheSpecAndHashesAndTheSpecReadsBack) {
  TempDir dir("ftd_provenance");
  std::filesystem::create_directories(dir.file("model"));
  Write(dir.file("model/config.json"), "{}");
  Write(dir.file("data.jsonl"), "abc");
  v1::JobSpec spec;
  spec.set_base_model(dir.file("model"));
  spec.set_method(v1::METHOD_FULL);
  spec.add_datasets()->set_path(dir.file("data.jsonl"));
  spec.set_seed(7);
  v1::Benchmark& benchmark = *spec.add_benchmarks();
  benchmark.set_suite(v1::BENCHMARK_SUITE_PIQA);
  benchmark.set_limit(0);  // Present but zero: must survive the round trip as present.

  absl::StatusOr<std::string> text = BuildProvenanceJson("jobs/ft-000001", 2, spec, "0.1.0");
  ASSERT_TRUE(text.ok()) << text.status();
  const nlohmann::json parsed = nlohmann::json::parse(*text);
  EXPECT_EQ(parsed["job"], "jobs/ft-000001");
  EXPECT_EQ(parsed["attempt"], 2);
  // SHA-256 of "abc" and of "{}".
  EXPECT_EQ(parsed["datasets"][0]["sha256"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(parsed["base_model"]["files"]["config.json"],
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");

  absl::StatusOr<v1::JobSpec> back = ParseProvenanceSpec(*text, "provenance.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*back, spec)) << back->DebugString();
}

TEST(ProvenanceTest, AMalformedFileIsAnInvalidArgumentNamingIt) {
  for (const std::string& text : {std::string("not json"), std::string("[1]"), std::string("{\"job\": 1}"),
                                  std::string("{\"spec\": {\"method\": \"NO_SUCH_METHOD\"}}")}) {
    absl::StatusOr<v1::JobSpec> spec = ParseProvenanceSpec(text, "/r/provenance.json");
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(spec.status().message(), HasSubstr("/r/provenance.json")) << text;
  }
}

}  // namespace
}  // namespace ftd
