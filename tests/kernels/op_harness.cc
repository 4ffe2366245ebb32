// The op harness runner: device plumbing through the Backend, NMSE comparison, finite-difference gradient
// checks and the results table.
#include "tests/kernels/op_harness.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace ftd::testing {

Arena::~Arena() {
  for (void* p : buffers_) (void)backend_.Free(p);
}

absl::StatusOr<float*> Arena::Floats(int64_t n) {
  ASSIGN_OR_RETURN(void* p, backend_.Allocate(n * static_cast<int64_t>(sizeof(float))));
  buffers_.push_back(p);
  return static_cast<float*>(p);
}

absl::StatusOr<float*> Arena::Upload(const std::vector<float>& host) {
  ASSIGN_OR_RETURN(float* p, Floats(static_cast<int64_t>(host.size())));
  RETURN_IF_ERROR(backend_.CopyToDevice(p, host.data(), static_cast<int64_t>(host.size() * sizeof(float))));
  return p;
}

absl::StatusOr<int32_t*> Arena::UploadInts(const std::vector<int32_t>& host) {
  ASSIGN_OR_RETURN(void* p, backend_.Allocate(static_cast<int64_t>(host.size() * sizeof(int32_t))));
  buffers_.push_back(p);
  RETURN_IF_ERROR(backend_.CopyToDevice(p, host.data(), static_cast<int64_t>(host.size() * sizeof(int32_t))));
  return static_cast<int32_t*>(p);
}

absl::StatusOr<uint16_t*> Arena::UploadU16(const std::vector<uint16_t>& host) {
  ASSIGN_OR_RETURN(void* p, backend_.Allocate(static_cast<int64_t>(host.size() * sizeof(uint16_t))));
  buffers_.push_back(p);
  RETURN_IF_ERROR(backend_.CopyToDevice(p, host.data(), static_cast<int64_t>(host.size() * sizeof(uint16_t))));
  return static_cast<uint16_t*>(p);
}

absl::StatusOr<std::vector<float>> Arena::Download(const float* device, int64_t n) {
  std::vector<float> host(static_cast<size_t>(n));
  RETURN_IF_ERROR(backend_.CopyToHost(host.data(), device, n * static_cast<int64_t>(sizeof(float))));
  return host;
}

double Nmse(const std::vector<double>& actual, const std::vector<double>& expected) {
  double err = 0.0, ref = 0.0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double d = actual[i] - expected[i];
    err += d * d;
    ref += expected[i] * expected[i];
  }
  if (std::isnan(err)) return INFINITY;
  return ref > 1e-30 ? err / ref : err;
}

namespace {

std::vector<float> ToFloat(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }
Vec ToDouble(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }

Vec Random(int64_t n, double lo, double hi, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> dist(lo, hi);
  Vec v(static_cast<size_t>(n));
  for (double& x : v) x = dist(rng);
  return v;
}

// sum_o <douts_o, Reference(in)_o>: the scalar whose gradient the backward computes.
double ProjectedLoss(const OpCase& c, const std::vector<Vec>& in, const std::vector<Vec>& douts) {
  const std::vector<Vec> out = c.Reference(in);
  double loss = 0.0;
  for (size_t o = 0; o < out.size(); ++o) {
    for (size_t i = 0; i < out[o].size(); ++i) loss += douts[o][i] * out[o][i];
  }
  return loss;
}

// Coordinates to check by finite differences: all of a small input, else the ends and random ones.
std::vector<int64_t> Coordinates(int64_t size, std::mt19937_64& rng) {
  constexpr int64_t kMax = 24;
  std::vector<int64_t> idx;
  if (size <= kMax) {
    for (int64_t i = 0; i < size; ++i) idx.push_back(i);
    return idx;
  }
  idx = {0, size - 1};
  std::uniform_int_distribution<int64_t> dist(0, size - 1);
  while (static_cast<int64_t>(idx.size()) < kMax) idx.push_back(dist(rng));
  return idx;
}

Verdict FromStatus(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnimplemented ? Verdict::kNotSupported : Verdict::kFail;
}

}  // namespace

CaseResult RunCase(OpCase& c, Backend& backend, std::mt19937_64& rng) {
  CaseResult r;
  r.op = c.op;
  r.params = c.params;
  std::vector<Vec> in;
  for (const InputSpec& spec : c.inputs) in.push_back(Random(spec.size, spec.lo, spec.hi, rng));
  c.Prepare(in, rng);
  for (Vec& v : in) v = ToDouble(ToFloat(v));  // Both sides see the same fp32 values.

  Arena arena(backend);
  auto fail = [&](const absl::Status& s, Verdict* which) {
    *which = FromStatus(s);
    if (*which == Verdict::kFail) r.message = s.ToString();
  };
  std::vector<float*> din, dout;
  for (const Vec& v : in) {
    absl::StatusOr<float*> p = arena.Upload(ToFloat(v));
    if (!p.ok()) return fail(p.status(), &r.forward), r;
    din.push_back(*p);
  }
  for (int64_t n : c.output_sizes) {
    // Outputs start as NaN so an element the op forgets to write fails the comparison.
    absl::StatusOr<float*> p = arena.Upload(std::vector<float>(static_cast<size_t>(n), NAN));
    if (!p.ok()) return fail(p.status(), &r.forward), r;
    dout.push_back(*p);
  }
  if (absl::Status s = c.Forward(backend, arena, din, dout); !s.ok()) {
    fail(s, &r.forward);
    return r;
  }
  const std::vector<Vec> expected = c.Reference(in);
  for (size_t o = 0; o < expected.size(); ++o) {
    absl::StatusOr<std::vector<float>> got = arena.Download(dout[o], c.output_sizes[o]);
    if (!got.ok()) return fail(got.status(), &r.forward), r;
    r.forward_nmse = std::max(r.forward_nmse, Nmse(ToDouble(*got), expected[o]));
  }
  r.forward = r.forward_nmse < c.forward_threshold ? Verdict::kPass : Verdict::kFail;
  if (r.forward == Verdict::kFail) r.message = absl::StrFormat("forward NMSE %.3g", r.forward_nmse);
  if (!c.has_backward) return r;

  // Backward: random output gradients (or one scale), random initial input gradients (so overwrite vs
  // accumulate is checked), the op's gradient minus the initial one if it accumulates.
  std::vector<Vec> douts;
  std::vector<float*> ddouts;
  if (c.scalar_dout) c.scalar_dout_value = std::uniform_real_distribution<double>(0.1, 1.0)(rng);
  for (int64_t n : c.output_sizes) {
    Vec g = c.scalar_dout ? Vec(static_cast<size_t>(n), c.scalar_dout_value) : Random(n, -1.0, 1.0, rng);
    g = ToDouble(ToFloat(g));
    c.scalar_dout_value = g.empty() ? c.scalar_dout_value : g[0];
    absl::StatusOr<float*> p = arena.Upload(ToFloat(g));
    if (!p.ok()) return fail(p.status(), &r.backward), r;
    ddouts.push_back(*p);
    douts.push_back(std::move(g));
  }
  std::vector<Vec> g0(in.size());
  std::vector<float*> dgrads(in.size(), nullptr);
  for (size_t i = 0; i < in.size(); ++i) {
    if (!c.inputs[i].differentiable) continue;
    g0[i] = ToDouble(ToFloat(Random(c.inputs[i].size, -1.0, 1.0, rng)));
    absl::StatusOr<float*> p = arena.Upload(ToFloat(g0[i]));
    if (!p.ok()) return fail(p.status(), &r.backward), r;
    dgrads[i] = *p;
  }
  if (absl::Status s = c.Backward(backend, arena, din, ddouts, dgrads); !s.ok()) {
    fail(s, &r.backward);
    return r;
  }
  constexpr double kH = 1e-4;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!c.inputs[i].differentiable) continue;
    absl::StatusOr<std::vector<float>> got = arena.Download(dgrads[i], c.inputs[i].size);
    if (!got.ok()) return fail(got.status(), &r.backward), r;
    Vec actual, fd;
    for (int64_t j : Coordinates(c.inputs[i].size, rng)) {
      std::vector<Vec> plus = in, minus = in;
      plus[i][j] += kH;
      minus[i][j] -= kH;
      fd.push_back((ProjectedLoss(c, plus, douts) - ProjectedLoss(c, minus, douts)) / (2 * kH));
      actual.push_back((*got)[j] - (c.inputs[i].grad_accumulates ? g0[i][j] : 0.0));
    }
    const double nmse = Nmse(actual, fd);
    if (nmse > r.backward_nmse || std::isnan(nmse)) r.backward_nmse = nmse;
    if (!(nmse < c.backward_threshold) && r.message.empty()) {
      r.message = absl::StrFormat("d%s NMSE %.3g", c.inputs[i].name, nmse);
    }
  }
  r.backward = r.backward_nmse < c.backward_threshold ? Verdict::kPass : Verdict::kFail;
  return r;
}

namespace {

std::string VerdictText(Verdict v, double nmse) {
  switch (v) {
    case Verdict::kPass: return absl::StrFormat("OK (nmse %.1e)", nmse);
    case Verdict::kFail: return absl::StrFormat("FAIL (nmse %.1e)", nmse);
    case Verdict::kNotSupported: return "not supported";
    case Verdict::kNone: return "-";
  }
  return "?";
}

}  // namespace

std::string FormatResults(const std::string& backend, const std::vector<CaseResult>& results) {
  std::string out = absl::StrFormat("Backend %s:\n", backend);
  struct Tally {
    int fwd_pass = 0, fwd_total = 0, bwd_pass = 0, bwd_total = 0, unsupported = 0, failed = 0;
  };
  std::map<std::string, Tally> by_op;
  std::vector<std::string> order;
  for (const CaseResult& r : results) {
    absl::StrAppendFormat(&out, "  %-58s fwd %-20s bwd %-20s %s\n", absl::StrCat(r.op, "(", r.params, ")"),
                          VerdictText(r.forward, r.forward_nmse), VerdictText(r.backward, r.backward_nmse),
                          r.message);
    if (!by_op.count(r.op)) order.push_back(r.op);
    Tally& t = by_op[r.op];
    for (auto [v, pass, total] : {std::tuple{r.forward, &t.fwd_pass, &t.fwd_total},
                                  std::tuple{r.backward, &t.bwd_pass, &t.bwd_total}}) {
      if (v == Verdict::kNone) continue;
      ++*total;
      if (v == Verdict::kPass) ++*pass;
      if (v == Verdict::kNotSupported) ++t.unsupported;
      if (v == Verdict::kFail) ++t.failed;
    }
  }
  absl::StrAppendFormat(&out, "  %-16s %-12s %-12s %s\n", "op", "forward", "backward", "verdict");
  for (const std::string& op : order) {
    const Tally& t = by_op[op];
    const std::string verdict = t.failed > 0 ? "FAIL" : t.unsupported > 0 ? "not supported" : "pass";
    absl::StrAppendFormat(&out, "  %-16s %-12s %-12s %s\n", op, absl::StrCat(t.fwd_pass, "/", t.fwd_total),
                          t.bwd_total == 0 ? "-" : absl::StrCat(t.bwd_pass, "/", t.bwd_total), verdict);
  }
  return out;
}

}  // namespace ftd::testing
