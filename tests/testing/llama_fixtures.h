// The set-up shared by the tests that run the tiny model fixtures (tests/fixtures/model_io, gen_training.py's
// tests/fixtures/training) and the stories260K llama2.c import: fixture paths, a model on the CPU backend, the
// training batch. Needs FTD_SOURCE_DIR from the test target (target_compile_definitions) and a target linking
// ftd_llama and nlohmann_json; unlike temp_dir.h it is not for every test.
#pragma once

#ifndef FTD_SOURCE_DIR
#error "llama_fixtures.h needs FTD_SOURCE_DIR: target_compile_definitions(<test> PRIVATE FTD_SOURCE_DIR=...)"
#endif

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "kernels/kernels.h"
#include "model/hf_model.h"
#include "model/llama/llama_model.h"
#include "model/llama2c_import.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"

namespace ftd {

// FTD_SOURCE_DIR/tests/fixtures/<relative>.
inline std::string FixturePath(absl::string_view relative) {
  return absl::StrCat(FTD_SOURCE_DIR, "/tests/fixtures/", relative);
}

// The HF model in `dir` loaded onto the CPU backend; on error a test failure with the status and null, so
// callers ASSERT_NE(model, nullptr).
inline std::unique_ptr<LlamaModel> LoadCpuModel(const std::string& dir) {
  absl::StatusOr<HfModel> hf = LoadHfModel(dir);
  if (!hf.ok()) {
    ADD_FAILURE() << hf.status();  // It names the file.
    return nullptr;
  }
  absl::StatusOr<Backend*> cpu = GetBackend("cpu");
  if (!cpu.ok()) {
    ADD_FAILURE() << cpu.status();
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<LlamaModel>> model = LlamaModel::Load(*hf, *cpu);
  if (!model.ok()) {
    ADD_FAILURE() << dir << ": " << model.status();
    return nullptr;
  }
  return std::move(*model);
}

// tests/fixtures/model_io/<name> (tiny_llama, tiny_qwen2) on the CPU backend, as LoadCpuModel.
inline std::unique_ptr<LlamaModel> LoadFixtureModel(absl::string_view name) {
  return LoadCpuModel(FixturePath(absl::StrCat("model_io/", name)));
}

// gen_training.py's batch for a model, its rows flattened.
struct TrainingBatch {
  int64_t b = 0, t = 0;
  std::vector<int32_t> ids, labels;  // (B, T)
};

// tests/fixtures/training/<model>/batch.json; on a missing file a test failure and an empty batch.
inline TrainingBatch ReadTrainingBatch(absl::string_view model) {
  const std::string path = FixturePath(absl::StrCat("training/", model, "/batch.json"));
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return {};
  }
  const nlohmann::json j = nlohmann::json::parse(in);
  const auto flatten = [](const nlohmann::json& rows) {
    std::vector<int32_t> out;
    for (const auto& row : rows) {
      for (const auto& id : row) out.push_back(id.get<int32_t>());
    }
    return out;
  };
  return TrainingBatch{j.at("B").get<int64_t>(), j.at("T").get<int64_t>(), flatten(j.at("input_ids")),
                       flatten(j.at("labels"))};
}

// The real pretrained stories260K (../shared/data/models/stories260K, llama2.c's checkpoint and tokenizer)
// imported as an HF model directory under `tmp`. NOT_FOUND when the shared data is absent, with the message to
// skip with (its absence skips, tests/README.md); any other error is the import's, a failure.
inline absl::StatusOr<std::string> ImportStories260K(const TempDir& tmp) {
  const std::string stories = std::string(FTD_SOURCE_DIR) + "/../shared/data/models/stories260K";
  if (!std::ifstream(stories + "/stories260K.bin")) {
    return absl::NotFoundError(absl::StrCat(stories, " is absent (shared data)"));
  }
  const std::string dir = tmp.file("stories260K");
  const absl::Status imported = ImportLlama2c(stories + "/stories260K.bin", stories + "/tok512.bin", dir);
  if (!imported.ok()) return absl::InternalError(absl::StrCat("importing ", stories, ": ", imported.ToString()));
  return dir;
}

}  // namespace ftd
