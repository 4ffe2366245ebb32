// Needles, haystack and the fitted prompt of the long-context suite (see long_context.h).
#include "eval/suites/long_context.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ftd {
namespace {

constexpr std::array<const char*, 32> kAdjectives = {
    "ancient", "bitter", "brave",  "bright", "calm",   "clever", "crimson", "curious", "dusty",  "eager",  "fancy",
    "gentle",  "golden", "hollow", "humble", "icy",    "jolly",  "lively",  "lucky",   "modest", "noisy",  "pale",
    "quiet",   "rapid",  "rusty",  "silent", "smooth", "steady", "tender",  "vivid",   "wild",   "witty"};
constexpr std::array<const char*, 32> kNouns = {
    "anchor", "badger", "basket", "beacon", "candle", "canyon", "castle", "falcon", "garden", "harbor", "island",
    "jacket", "kettle", "ladder", "lantern", "meadow", "mirror", "orchard", "pebble", "pepper", "pillow", "quarry",
    "rabbit", "ribbon", "saddle", "school", "spider", "teapot", "tunnel", "violin", "wagon",  "walnut"};

// floor(u * n / 2^64): a uniform index in [0, n) that is the same on every platform.
uint64_t Draw(std::mt19937_64& rng, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(rng()) * n) >> 64);
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace

std::vector<Needle> MakeNeedles(uint64_t seed, int samples) {
  std::mt19937_64 rng(seed);
  std::vector<Needle> needles;
  for (int i = 0; i < samples; ++i) {
    const char* adjective = kAdjectives[Draw(rng, kAdjectives.size())];
    const char* noun = kNouns[Draw(rng, kNouns.size())];
    const uint64_t value = 1000000 + Draw(rng, 9000000);
    needles.push_back({absl::StrCat(adjective, "-", noun), absl::StrCat(value)});
  }
  return needles;
}

std::string NeedleSentence(const Needle& needle) {
  return absl::StrCat("The special magic number for ", needle.key, " is: ", needle.value, ".");
}

std::string NeedleQuestion(const Needle& needle) {
  return absl::StrCat("What is the special magic number for ", needle.key,
                      " mentioned in the provided text? Answer: The special magic number for ", needle.key, " is:");
}

absl::StatusOr<Haystack> SplitHaystack(absl::string_view text, absl::string_view file_name) {
  Haystack haystack;
  size_t i = 0;
  while (i < text.size() && IsSpace(text[i])) ++i;
  while (i < text.size()) {
    const size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    while (i < text.size() && IsSpace(text[i])) ++i;
    haystack.pieces.emplace_back(text.substr(start, i - start));
  }
  if (haystack.pieces.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": no text for a haystack"));
  }
  if (!IsSpace(haystack.pieces.back().back())) haystack.pieces.back() += "\n";
  return haystack;
}

std::string HaystackText(const Haystack& haystack, int64_t pieces) {
  std::string text;
  if (haystack.pieces.empty()) return text;
  for (int64_t i = 0; i < pieces; ++i) text += haystack.pieces[static_cast<size_t>(i) % haystack.pieces.size()];
  if (!text.empty() && text.back() != '\n') {
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.pop_back();
    if (text.empty() || text.back() != '\n') text += '\n';
  }
  return text;
}

size_t NeedleOffset(absl::string_view text, double depth) {
  depth = std::clamp(depth, 0.0, 1.0);
  const double target = depth * static_cast<double>(text.size());
  size_t best = 0;
  double best_distance = target;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n') continue;
    const double distance = std::abs(static_cast<double>(i + 1) - target);
    if (distance < best_distance) {
      best = i + 1;
      best_distance = distance;
    }
  }
  return best;
}

std::string NeedlePrompt(absl::string_view haystack_text, double depth, const Needle& needle) {
  const size_t offset = NeedleOffset(haystack_text, depth);
  return absl::StrCat(haystack_text.substr(0, offset), NeedleSentence(needle), "\n", haystack_text.substr(offset),
                      NeedleQuestion(needle));
}

absl::StatusOr<FittedPrompt> FitNeedlePrompt(const Haystack& haystack, int64_t length, double depth,
                                             const Needle& needle, const TokenCounter& count_tokens) {
  const auto build = [&](int64_t pieces) {
    FittedPrompt fitted;
    const std::string text = HaystackText(haystack, pieces);
    fitted.prompt = NeedlePrompt(text, depth, needle);
    fitted.tokens = count_tokens(fitted.prompt);
    fitted.haystack_pieces = pieces;
    fitted.needle_offset = NeedleOffset(text, depth);
    return fitted;
  };
  FittedPrompt best = build(0);
  if (best.tokens > length) {
    return absl::InvalidArgumentError(absl::StrCat("a context length of ", length,
                                                   " tokens cannot hold the needle and question alone (",
                                                   best.tokens, " tokens)"));
  }
  // Exponential search for a piece count that no longer fits; every piece adds at least a token in practice, so
  // a few times `length` pieces always overflows.
  const int64_t cap = 8 * length + 8;
  int64_t lo = 0, hi = 1;
  while (true) {
    FittedPrompt candidate = build(hi);
    if (candidate.tokens > length) break;
    best = std::move(candidate);
    lo = hi;
    if (hi >= cap) return absl::InternalError("the haystack's pieces encode to almost no tokens");
    hi = std::min(hi * 2, cap);
  }
  while (hi - lo > 1) {  // build(lo) fits, build(hi) does not.
    const int64_t mid = lo + (hi - lo) / 2;
    FittedPrompt candidate = build(mid);
    if (candidate.tokens <= length) {
      best = std::move(candidate);
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return best;
}

double StringMatchAll(absl::string_view prediction, const std::vector<std::string>& references) {
  if (references.empty()) return 0;
  const std::string lowered = absl::AsciiStrToLower(prediction);
  int found = 0;
  for (const std::string& reference : references) {
    if (absl::StrContains(lowered, absl::AsciiStrToLower(reference))) ++found;
  }
  return static_cast<double>(found) / static_cast<double>(references.size());
}

}  // namespace ftd
