// The Llama forward pass against transformers: logits of tiny_llama (fp32, llama3 RoPE scaling, untied) and
// tiny_qwen2 (bf16 weights upcast, q/k/v bias, tied embeddings) on gen_training.py's batch, max abs error
// < 1e-4 (the bound for fp32).
#include "model/llama/llama_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "model/safetensors.h"
#include "model/tokenizer/tokenizer.h"
#include "tests/testing/llama_fixtures.h"
#include "tests/testing/temp_dir.h"

namespace ftd {
namespace {

class LlamaForwardTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaForwardTest, LogitsMatchTransformers) {
  const std::string model = GetParam();
  std::unique_ptr<LlamaModel> llama = LoadFixtureModel(model);
  ASSERT_NE(llama, nullptr);

  const TrainingBatch batch = ReadTrainingBatch(model);
  ASSERT_FALSE(batch.ids.empty());
  absl::StatusOr<std::vector<float>> logits = llama->Forward(batch.ids, batch.b, batch.t);
  ASSERT_TRUE(logits.ok()) << logits.status();

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> ref_file =
      SafetensorsFile::Open(FixturePath("training/" + model + "/logits.safetensors"));
  ASSERT_TRUE(ref_file.ok()) << ref_file.status();
  absl::StatusOr<TensorView> ref_view = (*ref_file)->Get("logits");
  ASSERT_TRUE(ref_view.ok()) << ref_view.status();
  absl::StatusOr<std::vector<float>> ref = ToF32(*ref_view);
  ASSERT_TRUE(ref.ok());
  ASSERT_EQ(logits->size(), ref->size());
  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < ref->size(); ++i) {
    max_err = std::max(max_err, static_cast<double>(std::fabs((*logits)[i] - (*ref)[i])));
    max_ref = std::max(max_ref, static_cast<double>(std::fabs((*ref)[i])));
  }
  std::printf("%s: max |logits - transformers| = %.3g (max |logit| %.3g)\n", model.c_str(), max_err, max_ref);
  EXPECT_LT(max_err, 1e-4) << model << ": max |logits - transformers| (max |ref| " << max_ref << ")";
  EXPECT_GT(max_ref, 0.1) << "reference logits look degenerate";
}

INSTANTIATE_TEST_SUITE_P(TinyModels, LlamaForwardTest, ::testing::Values("tiny_llama", "tiny_qwen2"));

TEST(LlamaForwardTest, RejectsAMismatchedBatch) {
  std::unique_ptr<LlamaModel> llama = LoadFixtureModel("tiny_llama");
  ASSERT_NE(llama, nullptr);
  EXPECT_EQ(llama->Forward({1, 2, 3}, 2, 2).status().message(), "forward: 3 ids for batch 2 x seq 2");
}

TEST(LlamaForwardTest, SmallerShapesReuseTheLargerPlanExactly) {
  // Activations are planned for the largest shape seen; a smaller batch or sequence then runs in those buffers and
  // must give bit-identical logits to a model that only ever saw the small shape.
  std::unique_ptr<LlamaModel> grown = LoadFixtureModel("tiny_llama");
  std::unique_ptr<LlamaModel> fresh = LoadFixtureModel("tiny_llama");
  ASSERT_TRUE(grown != nullptr && fresh != nullptr);
  std::vector<int32_t> big(3 * 9);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<int32_t>((7 * i + 3) % 50);
  ASSERT_TRUE(grown->Forward(big, 3, 9).ok());
  const std::vector<int32_t> small = {5, 9, 2, 11, 4, 8, 1, 3, 6, 7};  // (2, 5)
  absl::StatusOr<std::vector<float>> a = grown->Forward(small, 2, 5);
  absl::StatusOr<std::vector<float>> b = fresh->Forward(small, 2, 5);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  // And a longer sequence with a smaller batch grows the plan again.
  std::vector<int32_t> longer(12);
  for (size_t i = 0; i < longer.size(); ++i) longer[i] = static_cast<int32_t>(i + 1);
  EXPECT_EQ(*grown->Forward(longer, 1, 12), *fresh->Forward(longer, 1, 12));
}

// The real pretrained stories260K, imported from llama2.c: greedy decoding from BOS + "Once upon a time" gives
// llama2.c's own continuation (../shared/data/README.md). A full forward per token (generate_command_test checks
// the same over the KV cache).
TEST(LlamaForwardTest, Stories260KGreedyContinuationMatchesLlama2c) {
  TempDir tmp("ftd_stories");
  const absl::StatusOr<std::string> dir = ImportStories260K(tmp);
  if (absl::IsNotFound(dir.status())) GTEST_SKIP() << dir.status().message();
  ASSERT_TRUE(dir.ok()) << dir.status();
  std::unique_ptr<LlamaModel> llama = LoadCpuModel(*dir);
  ASSERT_NE(llama, nullptr);
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromDir(*dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();

  std::vector<int32_t> ids = (*tokenizer)->Encode("Once upon a time", /*add_special_tokens=*/true);
  ASSERT_EQ(ids.front(), 1);  // BOS, as llama2.c's run.c prepends it.
  const size_t prompt_len = ids.size();
  const int64_t vocab = llama->config().vocab_size;
  for (int step = 0; step < 24; ++step) {
    const int64_t seq = static_cast<int64_t>(ids.size());
    absl::StatusOr<std::vector<float>> logits = llama->Forward(ids, 1, seq);
    ASSERT_TRUE(logits.ok()) << logits.status();
    const float* last = logits->data() + (seq - 1) * vocab;
    ids.push_back(static_cast<int32_t>(std::max_element(last, last + vocab) - last));
  }
  const std::vector<int32_t> generated(ids.begin() + 1, ids.end());
  EXPECT_EQ((*tokenizer)->Decode(generated, /*skip_special_tokens=*/true),
            "Once upon a time, there was a little girl named Lily. She loved to play outside in the p");
  EXPECT_GT(ids.size(), prompt_len);
}

}  // namespace
}  // namespace ftd
