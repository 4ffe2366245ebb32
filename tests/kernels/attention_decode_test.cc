// kernels/cpu/attention_decode.cc: the blocked prefill path (causal blocks of sgemms) against the row-by-row path
// on the same random inputs, over query counts that straddle a block, cache lengths with and without a cached
// prefix, GQA ratios 1, 2, 4 and 8, and batch rows with spare cache capacity (NaN there: neither path may read it).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_ops.h"

namespace ftd::cpu {
namespace {

struct Inputs {
  std::vector<float> q, k, v;  // (B, Tq, Hq, D); (B, kv_capacity, Hkv, D) twice
};

Inputs RandomInputs(const AttentionDecodeShape& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  Inputs in;
  in.q.resize(static_cast<size_t>(s.batch * s.q_len * s.q_heads * s.head_dim));
  const int64_t row = s.kv_heads * s.head_dim;
  in.k.resize(static_cast<size_t>(s.batch * s.kv_capacity * row));
  in.v.resize(in.k.size());
  for (float& x : in.q) x = dist(rng);
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t t = 0; t < s.kv_capacity; ++t) {
      for (int64_t j = 0; j < row; ++j) {
        const size_t i = static_cast<size_t>((b * s.kv_capacity + t) * row + j);
        in.k[i] = t < s.kv_len ? dist(rng) : NAN;
        in.v[i] = t < s.kv_len ? dist(rng) : NAN;
      }
    }
  }
  return in;
}

std::vector<float> RunPath(const AttentionDecodeShape& s, const Inputs& in, AttentionDecodePath path) {
  std::vector<float> out(in.q.size(), NAN);
  EXPECT_TRUE(AttentionDecodeForwardCpu(s, in.q.data(), in.k.data(), in.v.data(), out.data(), path).ok());
  return out;
}

TEST(AttentionDecodeTest, BlockedPathMatchesRowPath) {
  struct Heads {
    int64_t q, kv, dim;
  };
  const std::vector<Heads> heads = {{4, 4, 8}, {8, 4, 8}, {8, 2, 16}, {8, 1, 32}, {6, 3, 64}};
  // (Tq, cached prefix): one block, a ragged second block, several blocks; an empty cache and a long prefix.
  const std::vector<std::pair<int64_t, int64_t>> lengths = {{1, 0},  {8, 0},   {9, 5},    {63, 0},
                                                            {64, 1}, {65, 40}, {130, 0}, {200, 257}};
  uint64_t seed = 1;
  int compared = 0;
  float worst_overall = 0.0f;
  for (const Heads& h : heads) {
    for (const auto& [tq, prefix] : lengths) {
      for (int64_t batch : {1, 2}) {
        const int64_t kv_len = prefix + tq;
        const AttentionDecodeShape s{batch, tq, kv_len, kv_len + 3, h.q, h.kv, h.dim};
        const Inputs in = RandomInputs(s, seed++);
        const std::vector<float> rows = RunPath(s, in, AttentionDecodePath::kRows);
        const std::vector<float> blocked = RunPath(s, in, AttentionDecodePath::kBlocked);
        const std::vector<float> automatic = RunPath(s, in, AttentionDecodePath::kAuto);
        const std::string shape = absl::StrCat("B=", batch, " Tq=", tq, " kv_len=", kv_len, " Hq=", h.q,
                                               " Hkv=", h.kv, " D=", h.dim);
        float worst = 0.0f;
        for (size_t i = 0; i < rows.size(); ++i) {
          ASSERT_TRUE(std::isfinite(blocked[i])) << shape << " element " << i;
          worst = std::max(worst, std::abs(blocked[i] - rows[i]));
          // kAuto is one of the two paths, bit for bit.
          ASSERT_TRUE(automatic[i] == rows[i] || automatic[i] == blocked[i]) << shape << " element " << i;
        }
        // Outputs are convex combinations of values in [-2, 2]: an absolute bound is a relative one. Only the
        // summation order and the vector exp differ between the paths.
        EXPECT_LE(worst, 1e-5f) << shape;
        worst_overall = std::max(worst_overall, worst);
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 80);
  std::printf("max |blocked - rows| over %d shapes = %.3g\n", compared, worst_overall);
}

}  // namespace
}  // namespace ftd::cpu
