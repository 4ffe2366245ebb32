// The op harness over every registered backend (a CUDA one joins by name once registered): every op's forward
// against the double reference and its backward against finite differences, printed as a table. The cpu
// backend must pass every op; another backend may report ops as not supported, never fail them.
#include "tests/kernels/op_harness.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/kernels.h"

namespace ftd::testing {
namespace {

std::vector<CaseResult> RunAll(Backend& backend, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<CaseResult> results;
  for (std::unique_ptr<OpCase>& c : AllOpCases()) results.push_back(RunCase(*c, backend, rng));
  return results;
}

TEST(OpHarnessTest, EveryOpOnEveryBackendMatchesTheReference) {
  for (const std::string& name : RegisteredBackends()) {
    absl::StatusOr<Backend*> backend = GetBackend(name);
    ASSERT_TRUE(backend.ok()) << backend.status();
    const std::vector<CaseResult> results = RunAll(**backend, 20240611);
    std::printf("%s", FormatResults(name, results).c_str());
    for (const CaseResult& r : results) {
      EXPECT_NE(r.forward, Verdict::kFail) << name << " " << r.op << "(" << r.params << "): " << r.message;
      EXPECT_NE(r.backward, Verdict::kFail) << name << " " << r.op << "(" << r.params << "): " << r.message;
      if (name == "cpu") {
        EXPECT_EQ(r.forward, Verdict::kPass) << "cpu must support " << r.op;
        EXPECT_TRUE(r.backward == Verdict::kPass || r.backward == Verdict::kNone) << "cpu must support " << r.op;
        // The cpu backend computes every op in fp32, so it holds fp32's thresholds even where a case allows a
        // backend less (the bf16 ops, whose CUDA backend rounds activations).
        EXPECT_LT(r.forward_nmse, kForwardNmse) << "cpu " << r.op << "(" << r.params << ")";
        if (r.backward != Verdict::kNone) {
          EXPECT_LT(r.backward_nmse, kBackwardNmse) << "cpu " << r.op << "(" << r.params << ")";
        }
      }
    }
  }
}

// Fresh random inputs on each run must pass too (a second seed), not only the ones the table shows.
TEST(OpHarnessTest, CpuPassesWithAnotherSeed) {
  absl::StatusOr<Backend*> cpu = GetBackend("cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  for (const CaseResult& r : RunAll(**cpu, 7)) {
    EXPECT_EQ(r.forward, Verdict::kPass) << r.op << "(" << r.params << "): " << r.message;
    EXPECT_NE(r.backward, Verdict::kFail) << r.op << "(" << r.params << "): " << r.message;
  }
}

// A backend that implements memory but no op: every op must come out "not supported", none failed or skipped.
class MemoryOnlyBackend : public Backend {
 public:
  absl::string_view name() const override { return "memory-only"; }
  absl::StatusOr<void*> Allocate(int64_t bytes) override { return cpu_.Allocate(bytes); }
  absl::Status Free(void* p) override { return cpu_.Free(p); }
  absl::Status CopyToDevice(void* d, const void* s, int64_t n) override { return cpu_.CopyToDevice(d, s, n); }
  absl::Status CopyToHost(void* d, const void* s, int64_t n) override { return cpu_.CopyToHost(d, s, n); }
  absl::Status Memset(void* d, int v, int64_t n) override { return cpu_.Memset(d, v, n); }

 private:
  cpu::CpuBackend cpu_;
};

TEST(OpHarnessTest, MissingOpsAreReportedNotSupported) {
  MemoryOnlyBackend backend;
  const std::vector<CaseResult> results = RunAll(backend, 1);
  const std::string table = FormatResults("memory-only", results);
  for (const CaseResult& r : results) {
    EXPECT_EQ(r.forward, Verdict::kNotSupported) << r.op;
  }
  EXPECT_NE(table.find("not supported"), std::string::npos);
  EXPECT_EQ(table.find("FAIL"), std::string::npos) << table;
  float x[1] = {0.0f};
  absl::Status s = backend.SwiGluForward(x, x, x, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(s.message(), "swiglu not supported by memory-only");
}

TEST(BackendRegistryTest, CpuIsRegisteredAndUnknownNamesAreNotFound) {
  const std::vector<std::string> names = RegisteredBackends();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names[0], "cpu");
  absl::StatusOr<Backend*> nope = GetBackend("tpu");
  EXPECT_EQ(nope.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(nope.status().message().find("cpu"), std::string::npos) << nope.status();
  EXPECT_EQ(RegisterBackend(std::make_unique<cpu::CpuBackend>()).code(), absl::StatusCode::kAlreadyExists);
  // "cuda" is there exactly when a device is (then every case below runs on it too), else refused with the reason.
  absl::StatusOr<Backend*> cuda = GetBackend("cuda");
  const bool listed = std::find(names.begin(), names.end(), "cuda") != names.end();
  EXPECT_EQ(cuda.ok(), listed);
  if (!cuda.ok()) {
    EXPECT_EQ(cuda.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(cuda.status().message().rfind("no cuda backend: ", 0), 0u) << cuda.status();
    std::printf("no cuda backend here: %s\n", std::string(cuda.status().message()).c_str());
  } else {
    EXPECT_FALSE((*cuda)->host_memory());
  }
}

TEST(BackendArgumentsTest, BadShapesAreInvalidArgumentNamingOpAndShape) {
  Backend& be = **GetBackend("cpu");
  float buf[64] = {};
  int32_t ids[4] = {0, 1, 9, 2};

  absl::Status s = be.Matmul(MatmulShape{0, 2, 2}, 1.0f, buf, buf, 0.0f, buf);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("matmul: m must be >= 1 (shape m=0, n=2, k=2, batch=1)"), std::string::npos) << s;

  s = be.AttentionForward(AttentionShape{1, 2, 3, 2, 4}, buf, buf, buf, nullptr, buf, buf);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("attention: q_heads Hq=3"), std::string::npos) << s;

  s = be.AttentionDecodeForward(AttentionDecodeShape{1, 2, 5, 4, 2, 2, 4}, buf, buf, buf, buf);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("attention_decode: need Tq <= kv_len <= kv_capacity (Tq=2, kv_len=5, kv_capacity=4)"),
            std::string::npos)
      << s;

  s = be.RopeForward(RopeShape{1, 2, 1, 3, 2}, buf, buf, buf, nullptr, buf);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("rope: head_dim D=3"), std::string::npos) << s;

  s = be.EmbeddingForward(ids, buf, buf, 4, 8, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ids[2]=9"), std::string::npos) << s;

  int32_t targets[2] = {1, -5};
  s = be.CrossEntropyForward(buf, targets, buf, buf, 2, 4);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("targets[1]=-5"), std::string::npos) << s;

  s = be.RmsNormForward(nullptr, buf, 1e-5f, buf, buf, 1, 4);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("rmsnorm: x is null"), std::string::npos) << s;

  s = be.Matmul(MatmulShape{2, 2, 2, Transpose::kNo, Transpose::kNo, 2, 4, 4, 3}, 1.0f, buf, buf, 0.0f, buf);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("stride_c=3"), std::string::npos) << s;
}

}  // namespace
}  // namespace ftd::testing
