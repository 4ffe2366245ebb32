// A model directory whose projection weights ARE an NF4 round trip of another's (dequantise(quantise(W)), every
// other tensor copied as fp32): the fp32 twin that a QLoRA run on the original must equal. For tests linking
// ftd_model_io and ftd_nf4 (gtest expectations report failures).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "model/file_io.h"
#include "model/hf_model.h"
#include "model/quant/nf4.h"
#include "model/tensor.h"

namespace ftd {

// The projections' bytes as fp32, and as NF4 in memory (packed codes, one fp32 absmax per 64 values:
// double-quantised statistics are restored at load).
struct ProjectionBytes {
  int64_t fp32 = 0;
  int64_t nf4 = 0;
};

// Writes `hf` to `dir` with every projection replaced by its NF4 round trip (dequantise(quantise(W))), and the
// tokenizer files of hf.dir.
inline ProjectionBytes WriteNf4DequantisedModel(const HfModel& hf, Nf4Statistics statistics, const std::string& dir) {
  std::vector<std::vector<float>> values;
  std::vector<std::pair<std::string, TensorView>> tensors;
  const std::vector<HfTensorSpec> specs = LlamaTensorSpecs(hf.config);
  values.reserve(specs.size());
  ProjectionBytes bytes;
  for (const HfTensorSpec& spec : specs) {
    absl::StatusOr<std::vector<float>> v = ToF32(*hf.weights->Get(spec.name));
    EXPECT_TRUE(v.ok()) << v.status();
    if (IsNf4QuantizedTensor(spec)) {
      absl::StatusOr<Nf4Tensor> q = QuantizeNf4(*v, statistics);
      EXPECT_TRUE(q.ok()) << q.status();
      EXPECT_TRUE(DequantizeNf4(*q, absl::MakeSpan(*v)).ok());
      const int64_t n = static_cast<int64_t>(v->size());
      bytes.fp32 += n * 4;
      bytes.nf4 += (n + 1) / 2 + Nf4Blocks(n) * 4;
    }
    values.push_back(std::move(*v));
    const absl::Span<const uint8_t> data(reinterpret_cast<const uint8_t*>(values.back().data()),
                                         values.back().size() * 4);
    tensors.emplace_back(spec.name, TensorView{DType::kF32, spec.shape, data});
  }
  absl::StatusOr<std::string> config = ReadFileToString(hf.dir + "/config.json");
  EXPECT_TRUE(config.ok()) << config.status();
  const absl::Status saved = SaveHfModel(dir, *config, tensors, hf.dir);
  EXPECT_TRUE(saved.ok()) << saved;
  return bytes;
}

}  // namespace ftd
