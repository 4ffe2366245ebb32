// KV-cache decoding: every step's logits equal the full forward's at that position (tiny_llama, tiny_qwen2, with
// and without a LoRA adapter, prefilled whole or in chunks; the last token's or every new token's), greedy
// decoding reproduces transformers' generate, and misuse (full cache, bad ids, another model's cache) fails with a
// clear status.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "model/llama/llama_model.h"
#include "model/peft_adapter.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"

namespace ftd {
namespace {

double MaxAbsDiff(const float* a, const float* b, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

// (model, with the lora_init adapter (A and B both non-zero), prefill chunk sizes before one-token steps)
using DecodeParam = std::tuple<std::string, bool, std::vector<int64_t>>;

class LlamaDecodeTest : public ::testing::TestWithParam<DecodeParam> {};

// The fixture model `name`, with its lora_init adapter attached when `with_lora`; null (and a test failure) on error.
std::unique_ptr<LlamaModel> LoadDecodeModel(const std::string& name, bool with_lora) {
  std::unique_ptr<LlamaModel> model = LoadFixtureModel(name);
  if (model == nullptr || !with_lora) return model;
  absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(FixturePath("training/" + name + "/lora_init"));
  EXPECT_TRUE(adapter.ok()) << adapter.status();
  if (!adapter.ok()) return nullptr;
  const absl::Status attached = model->AttachLora(*adapter);
  EXPECT_TRUE(attached.ok()) << attached;
  return attached.ok() ? std::move(model) : nullptr;
}

TEST_P(LlamaDecodeTest, EveryStepMatchesTheFullForward) {
  const auto& [name, with_lora, chunks] = GetParam();
  std::unique_ptr<LlamaModel> model = LoadDecodeModel(name, with_lora);
  ASSERT_NE(model, nullptr);
  const std::vector<int32_t> ids = ReadTrainingBatch(name).ids;  // Both rows, one after the other: 24 tokens.
  const int64_t T = static_cast<int64_t>(ids.size()), V = model->config().vocab_size;
  absl::StatusOr<std::vector<float>> full = model->Forward(ids, 1, T);
  ASSERT_TRUE(full.ok()) << full.status();
  if (with_lora) {  // The adapter must matter, or this case would test nothing beyond the base model.
    absl::StatusOr<std::vector<float>> base = LoadFixtureModel(name)->Forward(ids, 1, T);
    ASSERT_TRUE(base.ok()) << base.status();
    EXPECT_GT(MaxAbsDiff(base->data(), full->data(), T * V), 1e-3);
  }

  absl::StatusOr<LlamaKvCache> cache = model->NewKvCache(T);
  ASSERT_TRUE(cache.ok()) << cache.status();
  std::vector<int64_t> steps = chunks;
  int64_t done = 0;
  for (int64_t c : chunks) done += c;
  steps.insert(steps.end(), T - done, 1);
  int64_t pos = 0;
  double worst = 0.0;
  for (int64_t step : steps) {
    const std::vector<int32_t> part(ids.begin() + pos, ids.begin() + pos + step);
    absl::StatusOr<std::vector<float>> logits = model->Decode(&*cache, part);
    ASSERT_TRUE(logits.ok()) << logits.status();
    ASSERT_EQ(static_cast<int64_t>(logits->size()), V);
    pos += step;
    EXPECT_EQ(cache->length(), pos);
    const double err = MaxAbsDiff(logits->data(), full->data() + (pos - 1) * V, V);
    EXPECT_LT(err, 1e-4) << name << " position " << pos - 1;
    worst = std::max(worst, err);
  }
  std::printf("%s%s: max |decode - forward| over %lld decode calls = %.3g\n", name.c_str(), with_lora ? "+lora" : "",
              static_cast<long long>(steps.size()), worst);
}

INSTANTIATE_TEST_SUITE_P(
    TinyModels, LlamaDecodeTest,
    ::testing::Values(DecodeParam{"tiny_llama", false, {5}}, DecodeParam{"tiny_qwen2", false, {5}},
                      DecodeParam{"tiny_llama", true, {5}}, DecodeParam{"tiny_qwen2", true, {5}},
                      DecodeParam{"tiny_llama", true, {1}}, DecodeParam{"tiny_qwen2", false, {3, 4, 6}},
                      DecodeParam{"tiny_llama", false, {24}}));

// LlamaDecodeLogits::kAll: every new token's row equals the full forward's at its position, from an empty cache and
// after a cached prefix (the attention's blocked prefill path for 8 tokens or more, its row path below).
TEST_P(LlamaDecodeTest, AllLogitsMatchTheFullForward) {
  const auto& [name, with_lora, chunks] = GetParam();
  std::unique_ptr<LlamaModel> model = LoadDecodeModel(name, with_lora);
  ASSERT_NE(model, nullptr);
  const std::vector<int32_t> ids = ReadTrainingBatch(name).ids;
  const int64_t T = static_cast<int64_t>(ids.size()), V = model->config().vocab_size;
  absl::StatusOr<std::vector<float>> full = model->Forward(ids, 1, T);
  ASSERT_TRUE(full.ok()) << full.status();
  absl::StatusOr<LlamaKvCache> cache = model->NewKvCache(T);
  ASSERT_TRUE(cache.ok()) << cache.status();
  const int64_t first = std::min<int64_t>(chunks.front(), T - 4);
  int64_t pos = 0;
  for (int64_t step : {first, int64_t{3}, T - first - 3}) {
    const std::vector<int32_t> part(ids.begin() + pos, ids.begin() + pos + step);
    absl::StatusOr<std::vector<float>> logits = model->Decode(&*cache, part, LlamaDecodeLogits::kAll);
    ASSERT_TRUE(logits.ok()) << logits.status();
    ASSERT_EQ(static_cast<int64_t>(logits->size()), step * V);
    EXPECT_LT(MaxAbsDiff(logits->data(), full->data() + pos * V, step * V), 1e-4) << name << " from " << pos;
    pos += step;
  }
  EXPECT_EQ(cache->length(), T);
}

// transformers' model.generate(greedy, KV cache on) on tiny_llama (fixtures/training/tiny_llama/greedy.json).
TEST(LlamaDecodeGreedyTest, MatchesTransformersGenerate) {
  std::ifstream in(FixturePath("training/tiny_llama/greedy.json"));
  ASSERT_TRUE(in);
  const nlohmann::json ref = nlohmann::json::parse(in);
  std::unique_ptr<LlamaModel> model = LoadFixtureModel("tiny_llama");
  ASSERT_NE(model, nullptr);
  const std::vector<int32_t> prompt = ref["prompt_ids"].get<std::vector<int32_t>>();
  const std::vector<int32_t> want = ref["new_ids"].get<std::vector<int32_t>>();
  absl::StatusOr<LlamaKvCache> cache = model->NewKvCache(static_cast<int64_t>(prompt.size() + want.size()));
  ASSERT_TRUE(cache.ok()) << cache.status();
  absl::StatusOr<std::vector<float>> logits = model->Decode(&*cache, prompt);
  std::vector<int32_t> got;
  while (logits.ok() && got.size() < want.size()) {
    got.push_back(static_cast<int32_t>(std::max_element(logits->begin(), logits->end()) - logits->begin()));
    if (got.size() < want.size()) logits = model->Decode(&*cache, {got.back()});
  }
  ASSERT_TRUE(logits.ok()) << logits.status();
  EXPECT_EQ(got, want);
}

TEST(LlamaDecodeErrorsTest, ClearStatusesAndTheCacheStaysUsable) {
  std::unique_ptr<LlamaModel> model = LoadFixtureModel("tiny_llama");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->NewKvCache(257).status().message(),
            "KV cache max_len 257 outside [1, 256] (max_position_embeddings)");
  EXPECT_EQ(model->NewKvCache(0).status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<LlamaKvCache> cache = model->NewKvCache(4);
  ASSERT_TRUE(cache.ok()) << cache.status();
  EXPECT_EQ(model->Decode(&*cache, {}).status().message(), "decode: no token ids");
  EXPECT_EQ(model->Decode(&*cache, {3, 320}).status().message(), "decode: token id 320 outside [0, 320)");
  EXPECT_EQ(model->Decode(&*cache, {-1}).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(model->Decode(&*cache, {3, 4, 5}).ok());
  absl::Status full = model->Decode(&*cache, {6, 7}).status();
  EXPECT_EQ(full.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(full.message(), "decode: 2 token(s) at position 3 do not fit in the KV cache of max_len 4");
  EXPECT_EQ(cache->length(), 3);
  ASSERT_TRUE(model->Decode(&*cache, {6}).ok());
  EXPECT_EQ(cache->length(), 4);

  std::unique_ptr<LlamaModel> other = LoadFixtureModel("tiny_llama");
  ASSERT_NE(other, nullptr);
  cache->Clear();
  EXPECT_EQ(other->Decode(&*cache, {3}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(model->Decode(nullptr, {3}).status().code(), absl::StatusCode::kFailedPrecondition);
}

// After Clear the same cache decodes a new sequence exactly as a fresh one would.
TEST(LlamaDecodeErrorsTest, ClearStartsANewSequence) {
  std::unique_ptr<LlamaModel> model = LoadFixtureModel("tiny_qwen2");
  ASSERT_NE(model, nullptr);
  absl::StatusOr<LlamaKvCache> used = model->NewKvCache(8);
  absl::StatusOr<LlamaKvCache> fresh = model->NewKvCache(8);
  ASSERT_TRUE(used.ok() && fresh.ok());
  ASSERT_TRUE(model->Decode(&*used, {9, 8, 7, 6, 5}).ok());
  used->Clear();
  absl::StatusOr<std::vector<float>> a = model->Decode(&*used, {11, 12});
  absl::StatusOr<std::vector<float>> b = model->Decode(&*fresh, {11, 12});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

}  // namespace
}  // namespace ftd
