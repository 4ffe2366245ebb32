// The CPU NF4 linear forward (Nf4Matmul: decode a tile of W, then sgemm) against the fp32 Matmul on the same
// dequantised 2048 x 2048 weight, for M = 1 (a decoding step), 64 and 512 tokens. The `wrong` counter is the
// number of outputs off the fp32 result by more than 1e-5 of its largest magnitude, checked after timing.
//
//   build/bench/nf4_matmul                        # OpenBLAS / OpenMP use all cores
#include <benchmark/benchmark.h>  // benchmark::State, RegisterBenchmark, Counter

#include <algorithm>  // std::max
#include <cmath>      // std::fabs
#include <cstdint>    // int64_t
#include <random>     // std::mt19937, std::normal_distribution
#include <string>     // std::string
#include <vector>     // std::vector

#include "kernels/kernels.h"     // GetBackend, Backend::Matmul, Backend::Nf4Matmul
#include "kernels/nf4_weight.h"  // Nf4Weight, kNf4WeightCode, kNf4WeightBlockSize

namespace {

using ftd::kNf4WeightBlockSize;
using ftd::kNf4WeightCode;
using ftd::Nf4Weight;

constexpr int64_t kOut = 2048;
constexpr int64_t kIn = 2048;

struct Data {
  std::vector<uint8_t> packed;  // (out * in / 2) random codes
  std::vector<float> absmax;    // (out * in / 64)
  std::vector<float> w;         // (out, in) the same weight dequantised
  Nf4Weight view;
};

const Data& Weight() {
  static const Data* data = [] {
    auto* d = new Data;
    std::mt19937 rng(1);
    d->packed.resize(kOut * kIn / 2);
    for (uint8_t& b : d->packed) b = static_cast<uint8_t>(rng());
    d->absmax.resize(kOut * kIn / kNf4WeightBlockSize);
    std::uniform_real_distribution<float> dist(0.01f, 0.1f);
    for (float& a : d->absmax) a = dist(rng);
    d->w.resize(kOut * kIn);
    for (int64_t i = 0; i < kOut * kIn; ++i) {
      const uint8_t byte = d->packed[i / 2];
      d->w[i] = kNf4WeightCode[i % 2 == 0 ? byte >> 4 : byte & 0x0F] * d->absmax[i / kNf4WeightBlockSize];
    }
    d->view = Nf4Weight{d->packed.data(), d->absmax.data(), kOut, kIn};
    return d;
  }();
  return *data;
}

void Run(benchmark::State& state, bool nf4) {
  const int64_t m = state.range(0);
  ftd::Backend* be = *ftd::GetBackend("cpu");
  const Data& d = Weight();
  std::vector<float> x(m * kIn), y(m * kOut), ref(m * kOut);  // (m, in), (m, out) twice
  std::mt19937 rng(2);
  std::normal_distribution<float> dist;
  for (float& v : x) v = dist(rng);
  const ftd::MatmulShape linear{m, kOut, kIn, ftd::Transpose::kNo, ftd::Transpose::kYes};
  for (auto _ : state) {
    const absl::Status s = nf4 ? be->Nf4Matmul(d.view, m, 1.0f, x.data(), 0.0f, y.data())
                               : be->Matmul(linear, 1.0f, x.data(), d.w.data(), 0.0f, y.data());
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
    benchmark::ClobberMemory();
  }
  (void)be->Matmul(linear, 1.0f, x.data(), d.w.data(), 0.0f, ref.data());
  double peak = 0.0, wrong = 0.0;
  for (float v : ref) peak = std::max(peak, static_cast<double>(std::fabs(v)));
  for (size_t i = 0; i < y.size(); ++i) wrong += std::fabs(y[i] - ref[i]) > 1e-5 * peak;
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * kOut * kIn, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  state.counters["wrong"] = wrong;
}

}  // namespace

int main(int argc, char** argv) {
  for (int64_t m : {1, 64, 512}) {
    benchmark::RegisterBenchmark("fp32_matmul/2048x2048", Run, false)->Arg(m)->UseRealTime();
    benchmark::RegisterBenchmark("nf4_matmul/2048x2048", Run, true)->Arg(m)->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
