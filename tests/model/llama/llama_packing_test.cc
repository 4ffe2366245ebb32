// Sample packing in LlamaModel: three documents packed into one row (gen_packing.py's batch, collated by
// transformers' DataCollatorWithFlattening) against the documents run separately: the fixture's torch reference
// and our own model on each document alone. Also: a packing of one document per row changes nothing, bit for bit;
// the model itself never scores a target across documents; bad packings are refused.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/llama/llama_model.h"
#include "model/peft_adapter.h"
#include "model/safetensors.h"
#include "nlohmann/json.hpp"
#include "tests/testing/llama_fixtures.h"

namespace ftd {
namespace {

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  return in ? nlohmann::json::parse(in) : nlohmann::json::object();
}

const std::string& Dir() {
  static const std::string dir = FixturePath("packing/tiny_llama");
  return dir;
}

struct Document {
  std::vector<int32_t> ids, labels;
};

// gen_packing.py's batch: the documents and their collated row.
struct PackedBatch {
  std::vector<Document> docs;
  std::vector<int32_t> ids, labels, positions, segments;  // (1, T)
  int64_t t = 0;
  int64_t n_targets = 0;
  LlamaPacking packing() const { return LlamaPacking{positions, segments}; }
};

PackedBatch ReadPackedBatch() {
  const nlohmann::json j = ReadJson(Dir() + "/batch.json");
  PackedBatch b;
  for (const auto& d : j.at("documents")) {
    b.docs.push_back({d.at("input_ids").get<std::vector<int32_t>>(), d.at("labels").get<std::vector<int32_t>>()});
  }
  const nlohmann::json& p = j.at("packed");
  b.ids = p.at("input_ids").get<std::vector<int32_t>>();
  b.labels = p.at("labels").get<std::vector<int32_t>>();
  b.positions = p.at("position_ids").get<std::vector<int32_t>>();
  b.segments = p.at("seq_idx").get<std::vector<int32_t>>();
  b.t = static_cast<int64_t>(b.ids.size());
  b.n_targets = j.at("n_targets").get<int64_t>();
  return b;
}

// A model of the tiny_llama fixture with gradients for `mode` (LoRA: gen_training.py's lora_init attached).
struct Trainee {
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<LlamaGradients> grads;
};

Trainee MakeTrainee(TrainMode mode) {
  Trainee t;
  t.model = LoadFixtureModel("tiny_llama");
  if (t.model == nullptr) return t;
  if (mode == TrainMode::kLora) {
    absl::StatusOr<LoraAdapter> adapter = ReadLoraAdapter(FixturePath("training/tiny_llama/lora_init"));
    EXPECT_TRUE(adapter.ok()) << adapter.status();
    if (!adapter.ok()) return {};
    EXPECT_TRUE(t.model->AttachLora(*adapter).ok());
  }
  absl::StatusOr<LlamaGradients> grads = t.model->NewGradients(mode);
  EXPECT_TRUE(grads.ok()) << grads.status();
  if (!grads.ok()) return {};
  t.grads = std::make_unique<LlamaGradients>(std::move(*grads));
  return t;
}

// The worst per-tensor ||ours - ref|| / ||ref|| over the tensors of `ref`.
double WorstRelative(const LlamaGradients& ours, const LlamaGradients& ref) {
  EXPECT_EQ(ours.names(), ref.names());
  double worst = 0;
  for (const std::string& name : ref.names()) {
    const std::vector<float> a = *ours.ToHost(name), b = *ref.ToHost(name);
    double diff = 0, norm = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
      norm += static_cast<double>(b[i]) * b[i];
    }
    EXPECT_GT(norm, 0) << name;
    worst = std::max(worst, std::sqrt(diff / std::max(norm, 1e-300)));
  }
  return worst;
}

// Against a safetensors file of reference gradients under the same names.
double WorstRelative(const LlamaGradients& ours, const std::string& ref_path) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> ref = SafetensorsFile::Open(ref_path);
  EXPECT_TRUE(ref.ok()) << ref.status();
  if (!ref.ok()) return INFINITY;
  EXPECT_EQ(ours.names(), (*ref)->names());
  double worst = 0;
  for (const std::string& name : (*ref)->names()) {
    const std::vector<float> b = *ToF32(*(*ref)->Get(name));
    absl::StatusOr<std::vector<float>> a = ours.ToHost(name);
    EXPECT_TRUE(a.ok() && a->size() == b.size()) << name;
    if (!a.ok() || a->size() != b.size()) return INFINITY;
    double diff = 0, norm = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      diff += (static_cast<double>((*a)[i]) - b[i]) * (static_cast<double>((*a)[i]) - b[i]);
      norm += static_cast<double>(b[i]) * b[i];
    }
    worst = std::max(worst, std::sqrt(diff / std::max(norm, 1e-300)));
  }
  return worst;
}

class LlamaPackingTest : public ::testing::TestWithParam<TrainMode> {
 protected:
  const char* Kind() const { return GetParam() == TrainMode::kLora ? "lora" : "full"; }
};

// Our packed step against gen_packing.py's reference (the documents run separately in torch, one denominator).
// Both are fp32 with sums taken in different orders (OpenBLAS blocks vs torch's, our double-accumulated row
// helpers); packing adds no other difference, as the masked probabilities are exact zeros. Measured: loss 5e-7,
// worst gradient tensor 1.7e-6 relative. Bounds: loss 1e-5 (about 20 ulp of a loss of 5.7) and 1e-4 per tensor,
// room for other BLAS kernels and vector paths (the unpacked comparison in llama_backward_test allows 1e-4 and
// 1e-3), yet far below what a packing bug does: a document seeing another moves the loss by ~2e-2 (loss.json's
// one-causal-row loss), a wrong position or segment moves the gradients by percents.
TEST_P(LlamaPackingTest, PackedStepMatchesTheSeparateDocumentsReference) {
  const PackedBatch batch = ReadPackedBatch();
  ASSERT_EQ(batch.docs.size(), 3u);
  Trainee t = MakeTrainee(GetParam());
  ASSERT_NE(t.grads, nullptr);
  const LlamaPacking packing = batch.packing();
  absl::StatusOr<float> loss = t.model->ForwardBackward(batch.ids, batch.labels, 1, batch.t, t.grads.get(), 0,
                                                        &packing);
  ASSERT_TRUE(loss.ok()) << loss.status();
  const double ref_loss = ReadJson(Dir() + "/loss.json")[std::string(Kind()) + "_loss"];
  const double worst = WorstRelative(*t.grads, Dir() + "/" + Kind() + "_grads.safetensors");
  std::printf("%s packed: loss %.7f, reference %.7f; worst gradient relative error %.3g\n", Kind(), *loss, ref_loss,
              worst);
  EXPECT_NEAR(*loss, ref_loss, 1e-5);
  EXPECT_LT(worst, 1e-4);
}

// In our own model: the packed row equals the documents run one by one (each its own batch of one, positions
// from 0, the same denominator, gradients accumulated), and so does a micro-batch of two packed rows with padding.
// Both sides are our fp32 code on the same weights; only the shapes of the products differ (and with them
// OpenBLAS's blocking and summation order), so they agree to fp32 rounding: 5e-6 on a loss of ~5.7 (10 ulp), 1e-5
// relative per gradient tensor (measured: 2e-7, one ulp, and 6e-7).
TEST_P(LlamaPackingTest, PackedEqualsTheDocumentsRunSeparately) {
  const PackedBatch batch = ReadPackedBatch();
  Trainee separate = MakeTrainee(GetParam());
  ASSERT_NE(separate.grads, nullptr);
  double separate_loss = 0;
  for (const Document& d : batch.docs) {
    absl::StatusOr<float> loss = separate.model->ForwardBackward(d.ids, d.labels, 1, static_cast<int64_t>(d.ids.size()),
                                                                 separate.grads.get(), batch.n_targets);
    ASSERT_TRUE(loss.ok()) << loss.status();
    separate_loss += *loss;
  }

  Trainee packed = MakeTrainee(GetParam());
  ASSERT_NE(packed.grads, nullptr);
  const LlamaPacking packing = batch.packing();
  absl::StatusOr<float> loss = packed.model->ForwardBackward(batch.ids, batch.labels, 1, batch.t, packed.grads.get(),
                                                             0, &packing);
  ASSERT_TRUE(loss.ok()) << loss.status();
  const double worst = WorstRelative(*packed.grads, *separate.grads);
  std::printf("%s: one packed row %.7f, separately %.7f; worst gradient relative difference %.3g\n", Kind(), *loss,
              separate_loss, worst);
  EXPECT_NEAR(*loss, separate_loss, 5e-6);
  EXPECT_LT(worst, 1e-5);

  // Two rows: documents 0 and 1 (12 tokens), then document 2 (9 tokens) and 3 tokens of padding (id 0, ignored
  // labels, a segment of its own at positions 0..2).
  const std::vector<Document>& d = batch.docs;
  const int64_t T = static_cast<int64_t>(d[0].ids.size() + d[1].ids.size());
  ASSERT_GT(T, static_cast<int64_t>(d[2].ids.size()));
  std::vector<int32_t> ids, labels, positions, segments;
  auto put = [&](const Document& doc, int32_t segment) {
    for (size_t i = 0; i < doc.ids.size(); ++i) {
      ids.push_back(doc.ids[i]);
      labels.push_back(i == 0 ? kIgnoreIndex : doc.labels[i]);
      positions.push_back(static_cast<int32_t>(i));
      segments.push_back(segment);
    }
  };
  put(d[0], 0);
  put(d[1], 1);
  put(d[2], 0);
  for (int32_t p = 0; static_cast<int64_t>(ids.size()) < 2 * T; ++p) {
    ids.push_back(0);
    labels.push_back(kIgnoreIndex);
    positions.push_back(p);
    segments.push_back(1);
  }
  Trainee two = MakeTrainee(GetParam());
  ASSERT_NE(two.grads, nullptr);
  const LlamaPacking two_rows{positions, segments};
  loss = two.model->ForwardBackward(ids, labels, 2, T, two.grads.get(), 0, &two_rows);
  ASSERT_TRUE(loss.ok()) << loss.status();
  const double worst_two = WorstRelative(*two.grads, *separate.grads);
  std::printf("%s: two padded packed rows %.7f; worst gradient relative difference %.3g\n", Kind(), *loss, worst_two);
  EXPECT_NEAR(*loss, separate_loss, 5e-6);
  EXPECT_LT(worst_two, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Modes, LlamaPackingTest, ::testing::Values(TrainMode::kLora, TrainMode::kFull),
                         [](const ::testing::TestParamInfo<TrainMode>& info) {
                           return info.param == TrainMode::kLora ? "Lora" : "Full";
                         });

// Forward's logits of a packed row are each document's own logits (fp32 rounding apart, as above).
TEST(LlamaPackingForwardTest, LogitsOfAPackedRowAreEachDocumentsOwn) {
  const PackedBatch batch = ReadPackedBatch();
  std::unique_ptr<LlamaModel> model = LoadFixtureModel("tiny_llama");
  ASSERT_NE(model, nullptr);
  const LlamaPacking packing = batch.packing();
  absl::StatusOr<std::vector<float>> packed = model->Forward(batch.ids, 1, batch.t, &packing);
  ASSERT_TRUE(packed.ok()) << packed.status();
  const int64_t V = model->config().vocab_size;
  size_t offset = 0;
  double worst = 0;
  for (const Document& d : batch.docs) {
    absl::StatusOr<std::vector<float>> alone = model->Forward(d.ids, 1, static_cast<int64_t>(d.ids.size()));
    ASSERT_TRUE(alone.ok()) << alone.status();
    for (size_t i = 0; i < alone->size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::fabs((*alone)[i] - (*packed)[offset * V + i])));
    }
    offset += d.ids.size();
  }
  std::printf("packed vs separate logits: max abs difference %.3g\n", worst);
  EXPECT_LT(worst, 1e-5);
  // Without the packing the same row is one causal sequence: later documents see earlier ones.
  absl::StatusOr<std::vector<float>> flat = model->Forward(batch.ids, 1, batch.t);
  ASSERT_TRUE(flat.ok());
  EXPECT_GT(std::fabs((*flat)[(batch.t - 1) * V] - (*packed)[(batch.t - 1) * V]), 1e-4);
}

// One document per row at positions 0..T-1 is exactly the unpacked step: same loss and gradients, bit for bit.
TEST(LlamaPackingForwardTest, OneDocumentPerRowIsBitIdenticalToNoPacking) {
  const TrainingBatch batch = ReadTrainingBatch("tiny_llama");
  std::vector<int32_t> positions, segments(batch.ids.size(), 7);
  for (int64_t i = 0; i < batch.b * batch.t; ++i) positions.push_back(static_cast<int32_t>(i % batch.t));
  const LlamaPacking packing{positions, segments};
  Trainee plain = MakeTrainee(TrainMode::kFull), one = MakeTrainee(TrainMode::kFull);
  ASSERT_NE(plain.grads, nullptr);
  ASSERT_NE(one.grads, nullptr);
  absl::StatusOr<float> a = plain.model->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, plain.grads.get());
  absl::StatusOr<float> b =
      one.model->ForwardBackward(batch.ids, batch.labels, batch.b, batch.t, one.grads.get(), 0, &packing);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  for (const std::string& name : plain.grads->names()) {
    EXPECT_EQ(*plain.grads->ToHost(name), *one.grads->ToHost(name)) << name;
  }
}

// The model drops cross-document targets itself: the row's labels taken as they are (the next document's first
// label not yet ignored) give the collated labels' loss.
TEST(LlamaPackingForwardTest, NoTargetCrossesDocuments) {
  const PackedBatch batch = ReadPackedBatch();
  std::vector<int32_t> raw;
  for (const Document& d : batch.docs) raw.insert(raw.end(), d.ids.begin(), d.ids.end());  // labels = ids
  std::vector<int32_t> collated = raw;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (batch.positions[i] == 0) collated[i] = kIgnoreIndex;
  }
  const LlamaPacking packing = batch.packing();
  Trainee x = MakeTrainee(TrainMode::kFull), y = MakeTrainee(TrainMode::kFull);
  ASSERT_NE(x.grads, nullptr);
  ASSERT_NE(y.grads, nullptr);
  absl::StatusOr<float> a = x.model->ForwardBackward(batch.ids, raw, 1, batch.t, x.grads.get(), 0, &packing);
  absl::StatusOr<float> b = y.model->ForwardBackward(batch.ids, collated, 1, batch.t, y.grads.get(), 0, &packing);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*x.grads->ToHost("model.norm.weight"), *y.grads->ToHost("model.norm.weight"));
  // The target count is the in-document one (len - 1 per document): a denominator of exactly that is accepted,
  // one below it refused.
  const int64_t in_document = static_cast<int64_t>(raw.size()) - static_cast<int64_t>(batch.docs.size());
  EXPECT_TRUE(x.model->ForwardBackward(batch.ids, raw, 1, batch.t, x.grads.get(), in_document, &packing).ok());
  EXPECT_EQ(x.model->ForwardBackward(batch.ids, raw, 1, batch.t, x.grads.get(), in_document - 1, &packing)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LlamaPackingForwardTest, RejectsBadPackings) {
  std::unique_ptr<LlamaModel> model = LoadFixtureModel("tiny_llama");
  ASSERT_NE(model, nullptr);
  const std::vector<int32_t> ids = {1, 2, 3, 4}, seg = {0, 0, 1, 1}, short_seg = {0, 0, 1};
  const std::vector<int32_t> pos = {0, 1, 0, 1}, far = {0, 1, 0, 2}, negative = {0, -1, 0, 1};
  for (const LlamaPacking& bad : {LlamaPacking{pos, short_seg}, LlamaPacking{short_seg, seg},
                                  LlamaPacking{far, seg}, LlamaPacking{negative, seg}}) {
    EXPECT_EQ(model->Forward(ids, 2, 2, &bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
  absl::StatusOr<LlamaGradients> grads = model->NewGradients(TrainMode::kFull);
  ASSERT_TRUE(grads.ok());
  const LlamaPacking far_packing{far, seg};
  EXPECT_EQ(model->ForwardBackward(ids, ids, 2, 2, &*grads, 0, &far_packing).status().code(),
            absl::StatusCode::kInvalidArgument);
  const LlamaPacking good{pos, seg};
  EXPECT_TRUE(model->Forward(ids, 2, 2, &good).ok());
}

}  // namespace
}  // namespace ftd
