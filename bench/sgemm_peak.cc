// OpenBLAS cblas_sgemm GFLOP/s on the matmul shapes of the issue-4 training step, plus a square 2048^3:
// the practical fp32 ceiling on this machine that ftd's achieved GFLOP/s (bench/train_step) is read against.
//
//   build-bench/bench/sgemm_peak                      # OpenBLAS uses all cores
//   OPENBLAS_NUM_THREADS=2 build-bench/bench/sgemm_peak --benchmark_filter=square
//
// Every row also reports `wrong`: sampled output elements checked against a double-precision dot product
// after timing, so a speed is never shown without a correctness check (nccl-tests' #wrong column).
#include <cblas.h>  // cblas_sgemm, openblas_get_num_threads, openblas_get_config

#include <benchmark/benchmark.h>  // benchmark::State, RegisterBenchmark, Counter

#include <cmath>    // std::fabs
#include <cstdint>  // int64_t
#include <random>   // std::mt19937, std::uniform_real_distribution
#include <string>   // std::to_string
#include <vector>   // std::vector

namespace {

// The bench config (bench/peer_pytorch.py): 8 x 256 tokens, hidden 512, intermediate 1536, vocab 8192,
// 4 KV heads of 64 (k/v projections 512 -> 256), LoRA rank 16.
constexpr int kTokens = 8 * 256;
constexpr int kHidden = 512;
constexpr int kKv = 256;
constexpr int kInter = 1536;
constexpr int kVocab = 8192;
constexpr int kRank = 16;

// Which product of a linear layer y = x W^T (x: (tokens, in), W: (out, in), row-major) is being timed.
enum class Pass {
  kForward,     // y  = x  W^T : M = tokens, N = out, K = in;     A no-trans, B trans
  kInputGrad,   // dx = dy W   : M = tokens, N = in,  K = out;    A no-trans, B no-trans
  kWeightGrad,  // dW = dy^T x : M = out,    N = in,  K = tokens; A trans,    B no-trans
  kSquare,      // C = A B, all no-trans, M = N = K = in
};

struct Gemm {
  int m, n, k;
  CBLAS_TRANSPOSE trans_a, trans_b;
};

Gemm ShapeOf(Pass pass, int in, int out) {
  switch (pass) {
    case Pass::kForward:
      return {kTokens, out, in, CblasNoTrans, CblasTrans};
    case Pass::kInputGrad:
      return {kTokens, in, out, CblasNoTrans, CblasNoTrans};
    case Pass::kWeightGrad:
      return {out, in, kTokens, CblasTrans, CblasNoTrans};
    case Pass::kSquare:
      break;
  }
  return {in, in, in, CblasNoTrans, CblasNoTrans};
}

std::vector<float> RandomMatrix(int64_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(size);
  for (float& v : values) v = dist(rng);
  return values;
}

// Counts sampled elements of C = op(A) op(B) that differ from a double-precision reference by more than
// a K-scaled fp32 tolerance (inputs are in [-1, 1], so |error| grows ~ sqrt(K) * eps; 1e-5 * K is loose).
int64_t CountWrong(const Gemm& g, const std::vector<float>& a, int lda, const std::vector<float>& b, int ldb,
                   const std::vector<float>& c) {
  int64_t wrong = 0;
  std::mt19937 rng(7);
  for (int sample = 0; sample < 64; ++sample) {
    const int i = static_cast<int>(rng() % g.m);
    const int j = static_cast<int>(rng() % g.n);
    double ref = 0.0;
    for (int p = 0; p < g.k; ++p) {
      const float a_ip = g.trans_a == CblasNoTrans ? a[int64_t{i} * lda + p] : a[int64_t{p} * lda + i];
      const float b_pj = g.trans_b == CblasNoTrans ? b[int64_t{p} * ldb + j] : b[int64_t{j} * ldb + p];
      ref += double{a_ip} * double{b_pj};
    }
    if (std::fabs(c[int64_t{i} * g.n + j] - ref) > 1e-5 * g.k) ++wrong;
  }
  return wrong;
}

void BM_Sgemm(benchmark::State& state, Pass pass, int in, int out) {
  const Gemm g = ShapeOf(pass, in, out);
  // Row-major storage as the training step holds it: op(A) is (M, K), op(B) is (K, N).
  const int lda = g.trans_a == CblasNoTrans ? g.k : g.m;
  const int ldb = g.trans_b == CblasNoTrans ? g.n : g.k;
  const std::vector<float> a = RandomMatrix(int64_t{g.m} * g.k, 1);
  const std::vector<float> b = RandomMatrix(int64_t{g.k} * g.n, 2);
  std::vector<float> c(int64_t{g.m} * g.n, 0.0f);

  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, g.trans_a, g.trans_b, g.m, g.n, g.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f,
                c.data(), g.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }

  const double gflop = 2.0 * g.m * g.n * g.k * 1e-9;
  // A rate counter: printed as GFLOP=<x>/s, i.e. GFLOP/s.
  state.counters["GFLOP"] = benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["M"] = g.m;
  state.counters["N"] = g.n;
  state.counters["K"] = g.k;
  state.counters["wrong"] = static_cast<double>(CountWrong(g, a, lda, b, ldb, c));
}

// Registers the forward, input-gradient and weight-gradient products of every linear layer in the step,
// named <layer>_<in>x<out>/<pass>, then the square. LoRA's rank-16 products are skinny and memory-bound:
// listed to show how far below the ceiling they sit, not as part of it.
void RegisterAll() {
  struct Layer {
    const char* name;
    int in, out;
  };
  const Layer layers[] = {
      {"q_o", kHidden, kHidden},   {"k_v", kHidden, kKv},           {"gate_up", kHidden, kInter},
      {"down", kInter, kHidden},   {"lm_head", kHidden, kVocab},    {"lora_a", kHidden, kRank},
      {"lora_b", kRank, kHidden},
  };
  const struct {
    const char* name;
    Pass pass;
  } passes[] = {{"fwd", Pass::kForward}, {"dx", Pass::kInputGrad}, {"dw", Pass::kWeightGrad}};
  for (const Layer& layer : layers) {
    for (const auto& p : passes) {
      const std::string name = std::string("sgemm/") + layer.name + "_" + std::to_string(layer.in) + "x" +
                               std::to_string(layer.out) + "/" + p.name;
      benchmark::RegisterBenchmark(name.c_str(), BM_Sgemm, p.pass, layer.in, layer.out)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::RegisterBenchmark("sgemm/square_2048", BM_Sgemm, Pass::kSquare, 2048, 2048)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("openblas_threads", std::to_string(openblas_get_num_threads()));
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
