// NF4 quantisation (model/quant/nf4.h) against bitsandbytes 0.50.2's CPU backend, bit for bit, using
// tests/fixtures/quant/nf4.safetensors (tests/fixtures/gen_nf4.py); plus round-trip bounds and the byte budget.
#include "model/quant/nf4.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/safetensors.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

class Nf4FixtureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto file = SafetensorsFile::Open(std::string(FTD_SOURCE_DIR) + "/tests/fixtures/quant/nf4.safetensors");
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = file->release();
  }
  static void TearDownTestSuite() {
    delete file_;
    file_ = nullptr;
  }

  template <typename T>
  static std::vector<T> Read(const std::string& name) {
    auto view = file_->Get(name);
    EXPECT_TRUE(view.ok()) << view.status();
    if (!view.ok()) return {};
    std::vector<T> out(view->data.size() / sizeof(T));
    std::memcpy(out.data(), view->data.data(), view->data.size());
    return out;
  }
  static bool Has(const std::string& name) { return file_->contains(name); }
  static nlohmann::json Info() { return nlohmann::json::parse(file_->header().metadata.at("info")); }

  static SafetensorsFile* file_;
};
SafetensorsFile* Nf4FixtureTest::file_ = nullptr;

// The generator's big_formula input (see gen_nf4.py big_formula_input): exact in fp32.
std::vector<float> BigFormulaInput(int64_t n) {
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = static_cast<uint32_t>(static_cast<uint64_t>(i) * 2654435761ull + 12345ull);
    const float base = static_cast<float>(u >> 8) * 0x1p-23f - 1.0f;
    const float scale = std::ldexp(1.0f, -static_cast<int>((i / 64) % 5));
    x[i] = base * scale;
  }
  return x;
}

// Bitwise equality of float vectors, reporting the first difference.
void ExpectSameBits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(0, std::memcmp(&got[i], &want[i], sizeof(float)))
        << what << "[" << i << "]: got " << got[i] << " want " << want[i];
  }
}

TEST_F(Nf4FixtureTest, TablesMatchBitsandbytes) {
  std::vector<float> code = Read<float>("nf4_code");
  std::vector<float> map = Read<float>("dynamic_map");
  ExpectSameBits(std::vector<float>(Nf4Code().begin(), Nf4Code().end()), code, "nf4_code");
  ExpectSameBits(std::vector<float>(Nf4DynamicMap().begin(), Nf4DynamicMap().end()), map, "dynamic_map");
}

TEST_F(Nf4FixtureTest, QuantiseAndDequantiseBitForBit) {
  nlohmann::json info = Info();
  EXPECT_EQ(info["versions"]["bitsandbytes"], "0.50.2");
  int checked = 0;
  for (const std::string name : info["cases"]) {
    SCOPED_TRACE(name);
    std::vector<float> input =
        Has(name + ".input") ? Read<float>(name + ".input") : BigFormulaInput(Read<float>(name + ".dq.dequant").size());
    for (Nf4Statistics stats : {Nf4Statistics::kFp32Absmax, Nf4Statistics::kDoubleQuant}) {
      const bool dq = stats == Nf4Statistics::kDoubleQuant;
      const std::string p = name + (dq ? ".dq." : ".");
      SCOPED_TRACE(dq ? "double quant" : "fp32 absmax");
      absl::StatusOr<Nf4Tensor> q = QuantizeNf4(input, stats);
      ASSERT_TRUE(q.ok()) << q.status();
      EXPECT_EQ(q->packed, Read<uint8_t>(p + "packed"));
      if (dq) {
        EXPECT_EQ(q->qabsmax, Read<uint8_t>(p + "qabsmax"));
        ExpectSameBits({q->offset}, Read<float>(p + "offset"), "offset");
        ExpectSameBits(q->absmax2, Read<float>(p + "absmax2"), "absmax2");
      } else {
        ExpectSameBits(q->absmax, Read<float>(p + "absmax"), "absmax");
      }
      if (Has(p + "dequant")) {
        std::vector<float> out(input.size());
        ASSERT_TRUE(DequantizeNf4(*q, absl::MakeSpan(out)).ok());
        ExpectSameBits(out, Read<float>(p + "dequant"), "dequant");
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2 * static_cast<int>(info["cases"].size()));
  EXPECT_GE(checked, 20);
}

// Dequantising bitsandbytes' own bytes (not ours) gives its output too.
TEST_F(Nf4FixtureTest, DequantisesBitsandbytesState) {
  Nf4Tensor t;
  t.statistics = Nf4Statistics::kDoubleQuant;
  t.packed = Read<uint8_t>("weight_96x64.dq.packed");
  t.qabsmax = Read<uint8_t>("weight_96x64.dq.qabsmax");
  t.offset = Read<float>("weight_96x64.dq.offset")[0];
  t.absmax2 = Read<float>("weight_96x64.dq.absmax2");
  t.numel = 96 * 64;
  std::vector<float> out(t.numel);
  ASSERT_TRUE(DequantizeNf4(t, absl::MakeSpan(out)).ok());
  ExpectSameBits(out, Read<float>("weight_96x64.dq.dequant"), "dequant");
}

TEST(Nf4Test, RoundTripErrorWithinHalfTheWidestCodeGap) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> x(64 * 1000 + 17);
  for (float& v : x) v = normal(rng);
  // The widest gap between neighbouring NF4 codes is 1 - 0.7229568 (top) and -0.6961928 - -1 (bottom).
  const float half_gap = 0.5f * (Nf4Code()[1] - Nf4Code()[0]);
  for (Nf4Statistics stats : {Nf4Statistics::kFp32Absmax, Nf4Statistics::kDoubleQuant}) {
    absl::StatusOr<Nf4Tensor> q = QuantizeNf4(x, stats);
    ASSERT_TRUE(q.ok());
    std::vector<float> y(x.size());
    ASSERT_TRUE(DequantizeNf4(*q, absl::MakeSpan(y)).ok());
    std::vector<float> absmax = *Nf4BlockAbsmax(*q);
    double err2 = 0, sig2 = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const float block_absmax = absmax[i / kNf4BlockSize];
      // Double quantisation perturbs the absmax by up to one 8-bit step, hence the slack there.
      const float bound = stats == Nf4Statistics::kFp32Absmax ? half_gap * block_absmax * 1.0001f
                                                               : half_gap * block_absmax * 1.0001f + 0.02f * block_absmax;
      ASSERT_LE(std::fabs(y[i] - x[i]), bound) << i;
      err2 += (y[i] - x[i]) * double(y[i] - x[i]);
      sig2 += x[i] * double(x[i]);
    }
    // NF4 on Gaussian weights keeps the relative RMS error near 10%.
    EXPECT_LT(std::sqrt(err2 / sig2), 0.12);
  }
}

TEST(Nf4Test, ByteBudgetForLlamaLinearWeights) {
  // Llama linear weights ([out, in] = [2048, 2048], [5632, 2048] as in TinyLlama's q_proj and gate_proj).
  for (int64_t numel : {int64_t{2048} * 2048, int64_t{5632} * 2048}) {
    const double fp32 = 4.0 * numel;
    const double plain = Nf4QuantizedBytes(numel, Nf4Statistics::kFp32Absmax) / fp32;
    const double dq = Nf4QuantizedBytes(numel, Nf4Statistics::kDoubleQuant) / fp32;
    std::printf("nf4 bytes / fp32 bytes for %lld values: %.6f (fp32 absmax), %.6f (double quant)\n",
                static_cast<long long>(numel), plain, dq);
    EXPECT_LE(plain, 0.141);
    EXPECT_LE(dq, 0.129);
  }
  // The accounting agrees with what QuantizeNf4 holds.
  std::vector<float> x(64 * 300 + 10, 0.25f);
  for (Nf4Statistics stats : {Nf4Statistics::kFp32Absmax, Nf4Statistics::kDoubleQuant}) {
    Nf4Tensor t = *QuantizeNf4(x, stats);
    const int64_t held = static_cast<int64_t>(t.packed.size() + 4 * t.absmax.size() + t.qabsmax.size() +
                                              4 * t.absmax2.size()) + (stats == Nf4Statistics::kDoubleQuant ? 4 : 0);
    EXPECT_EQ(Nf4QuantizedBytes(t), held);
  }
}

TEST(Nf4Test, RejectsBadInput) {
  EXPECT_EQ(QuantizeNf4({}, Nf4Statistics::kFp32Absmax).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<float> bad = {1.0f, NAN};
  EXPECT_EQ(QuantizeNf4(bad, Nf4Statistics::kFp32Absmax).status().code(), absl::StatusCode::kInvalidArgument);
  bad[1] = INFINITY;
  EXPECT_EQ(QuantizeNf4(bad, Nf4Statistics::kDoubleQuant).status().code(), absl::StatusCode::kInvalidArgument);

  Nf4Tensor t = *QuantizeNf4(std::vector<float>(100, 1.0f), Nf4Statistics::kFp32Absmax);
  std::vector<float> out(99);
  EXPECT_EQ(DequantizeNf4(t, absl::MakeSpan(out)).code(), absl::StatusCode::kInvalidArgument);
  out.resize(100);
  t.absmax.pop_back();
  EXPECT_EQ(DequantizeNf4(t, absl::MakeSpan(out)).code(), absl::StatusCode::kInvalidArgument);
  Nf4Tensor d = *QuantizeNf4(std::vector<float>(100, 1.0f), Nf4Statistics::kDoubleQuant);
  d.packed.push_back(0);
  EXPECT_EQ(DequantizeNf4(d, absl::MakeSpan(out)).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ftd
