// Scores from loglikelihoods (see scores.h): lm-eval's metric arithmetic, and our bootstrap for perplexity.
#include "eval/suites/scores.h"

#include <cmath>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "eval/suites/python_text.h"

namespace ftd {
namespace {

// np.argmax: the first maximum, or the first NaN when there is one.
size_t ArgMax(const std::vector<double>& v) {
  size_t best = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(v[i])) return i;
    if (v[i] > v[best]) best = i;
  }
  return best;
}

std::optional<double> SampleStd(const std::vector<double>& v) {
  if (v.size() < 2) return std::nullopt;
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

struct Sums {
  double logprob = 0;
  double words = 0;
  double bytes = 0;
};

PerplexityScores FromSums(const Sums& s) {
  PerplexityScores p;
  p.word_perplexity = std::exp(-s.logprob / s.words);
  p.byte_perplexity = std::exp(-s.logprob / s.bytes);
  p.bits_per_byte = -s.logprob / s.bytes / std::log(2.0);
  return p;
}

}  // namespace

absl::StatusOr<ItemScore> ScoreItem(const MultipleChoiceItem& item, const std::vector<ChoiceLoglikelihood>& lls) {
  if (lls.size() != item.choices.size() || lls.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("score: ", lls.size(), " loglikelihoods for ", item.choices.size(), " choices"));
  }
  std::vector<double> raw, norm;
  for (size_t i = 0; i < lls.size(); ++i) {
    raw.push_back(lls[i].logprob);
    // IEEE division, as numpy's: an empty choice gives -inf, inf or NaN.
    norm.push_back(lls[i].logprob / static_cast<double>(PythonLength(item.choices[i])));
  }
  const size_t gold = static_cast<size_t>(item.gold);
  return ItemScore{ArgMax(raw) == gold ? 1.0 : 0.0, ArgMax(norm) == gold ? 1.0 : 0.0};
}

MeanStderr MeanWithStderr(const std::vector<double>& values) {
  MeanStderr out;
  out.n = static_cast<int64_t>(values.size());
  if (values.empty()) return out;
  double sum = 0;
  for (double x : values) sum += x;
  out.mean = sum / static_cast<double>(values.size());
  if (std::optional<double> sd = SampleStd(values))
    out.standard_error = *sd / std::sqrt(static_cast<double>(values.size()));
  return out;
}

absl::StatusOr<MultipleChoiceScores> ScoreMultipleChoice(const std::vector<MultipleChoiceItem>& items,
                                                         const std::vector<std::vector<ChoiceLoglikelihood>>& lls) {
  if (items.size() != lls.size()) {
    return absl::InvalidArgumentError(absl::StrCat("score: ", lls.size(), " results for ", items.size(), " items"));
  }
  std::vector<double> acc, acc_norm;
  for (size_t i = 0; i < items.size(); ++i) {
    absl::StatusOr<ItemScore> s = ScoreItem(items[i], lls[i]);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("item ", i, ": ", s.status().message()));
    acc.push_back(s->acc);
    acc_norm.push_back(s->acc_norm);
  }
  return MultipleChoiceScores{MeanWithStderr(acc), MeanWithStderr(acc_norm)};
}

absl::StatusOr<double> PooledSampleStderr(const std::vector<double>& stderrs, const std::vector<int64_t>& sizes) {
  if (stderrs.size() != sizes.size() || stderrs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pooled stderr: ", stderrs.size(), " stderrs for ", sizes.size(), " sizes"));
  }
  double numerator = 0, total = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const double n = static_cast<double>(sizes[i]);
    numerator += (n - 1) * stderrs[i] * stderrs[i] * n;
    total += n;
  }
  const double dof = total - static_cast<double>(sizes.size());
  if (dof <= 0) return absl::InvalidArgumentError("pooled stderr: no degrees of freedom (sum of sizes <= subtasks)");
  return std::sqrt(numerator / dof / total);
}

absl::StatusOr<MeanStderr> GroupScore(const std::vector<MeanStderr>& subtasks) {
  if (subtasks.empty()) return absl::InvalidArgumentError("group: no subtasks");
  MeanStderr out;
  double weighted = 0;
  bool all_stderr = true;
  std::vector<double> stderrs;
  std::vector<int64_t> sizes;
  for (const MeanStderr& s : subtasks) {
    weighted += s.mean * static_cast<double>(s.n);
    out.n += s.n;
    all_stderr = all_stderr && s.standard_error.has_value();
    stderrs.push_back(s.standard_error.value_or(0));
    sizes.push_back(s.n);
  }
  if (out.n == 0) return absl::InvalidArgumentError("group: no items");
  out.mean = weighted / static_cast<double>(out.n);
  if (all_stderr) {
    absl::StatusOr<double> pooled = PooledSampleStderr(stderrs, sizes);
    if (!pooled.ok()) return pooled.status();
    out.standard_error = *pooled;
  }
  return out;
}

absl::StatusOr<PerplexityScores> ScorePerplexity(const std::vector<DocumentLoglikelihood>& docs,
                                                 const BootstrapOptions& options) {
  Sums total;
  for (const DocumentLoglikelihood& d : docs) {
    total.logprob += d.logprob;
    total.words += static_cast<double>(d.words);
    total.bytes += static_cast<double>(d.bytes);
  }
  if (docs.empty() || total.words <= 0 || total.bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("perplexity: ", docs.size(), " documents with ", total.words,
                                                   " words and ", total.bytes, " bytes"));
  }
  PerplexityScores out = FromSums(total);
  if (docs.size() < 2 || options.iterations < 2) return out;

  std::mt19937_64 rng(options.seed);
  const unsigned __int128 n = docs.size();
  std::vector<double> word_ppl, byte_ppl, bpb;
  for (int it = 0; it < options.iterations; ++it) {
    Sums s;
    for (size_t k = 0; k < docs.size(); ++k) {
      const DocumentLoglikelihood& d = docs[static_cast<size_t>((static_cast<unsigned __int128>(rng()) * n) >> 64)];
      s.logprob += d.logprob;
      s.words += static_cast<double>(d.words);
      s.bytes += static_cast<double>(d.bytes);
    }
    const PerplexityScores r = FromSums(s);
    word_ppl.push_back(r.word_perplexity);
    byte_ppl.push_back(r.byte_perplexity);
    bpb.push_back(r.bits_per_byte);
  }
  out.word_perplexity_stderr = SampleStd(word_ppl);
  out.byte_perplexity_stderr = SampleStd(byte_ppl);
  out.bits_per_byte_stderr = SampleStd(bpb);
  return out;
}

absl::StatusOr<std::vector<DocumentLoglikelihood>> WithLoglikelihoods(const std::vector<PerplexityDocument>& docs,
                                                                      const std::vector<double>& logprobs) {
  if (docs.size() != logprobs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("perplexity: ", logprobs.size(), " loglikelihoods for ", docs.size(), " documents"));
  }
  std::vector<DocumentLoglikelihood> out;
  for (size_t i = 0; i < docs.size(); ++i) {
    out.push_back({logprobs[i], docs[i].words, docs[i].bytes});
  }
  return out;
}

}  // namespace ftd
