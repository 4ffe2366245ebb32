// lm-eval's request encoding and rolling windows, written from lm_eval 0.4.13's HFLM._encode_pair,
// HFLM.loglikelihood and utils.get_rolling_token_windows / make_disjoint_window.
#include "eval/loglikelihood_request.h"

#include <algorithm>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ftd {
namespace {

// Python's str.rstrip() whitespace in ASCII. (Python also strips Unicode spaces such as U+00A0 and U+3000;
// contexts ending in those are rare in benchmark data and are left as they are.)
bool IsAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

absl::StatusOr<int32_t> PrefixTokenId(const Tokenizer& tokenizer) {
  for (const auto& token : {tokenizer.config().bos_token, tokenizer.config().eos_token}) {
    if (!token.has_value()) continue;
    if (std::optional<int32_t> id = tokenizer.TokenToId(*token)) return *id;
  }
  return absl::FailedPreconditionError(
      "the tokenizer has no BOS or EOS token to condition the first token on (tokenizer_config.json)");
}

absl::StatusOr<std::vector<int32_t>> LmEvalEncode(const Tokenizer& tokenizer, absl::string_view text) {
  absl::StatusOr<int32_t> prefix = PrefixTokenId(tokenizer);
  if (!prefix.ok()) return prefix.status();
  const std::string prefix_text = tokenizer.Decode({*prefix});
  const bool has_prefix = !prefix_text.empty() && absl::StartsWith(text, prefix_text);
  return tokenizer.Encode(text, /*add_special_tokens=*/!has_prefix);
}

absl::StatusOr<TokenRequest> EncodeLoglikelihoodRequest(const Tokenizer& tokenizer, absl::string_view context,
                                                        absl::string_view continuation) {
  TokenRequest request;
  if (context.empty()) {
    absl::StatusOr<int32_t> prefix = PrefixTokenId(tokenizer);
    if (!prefix.ok()) return prefix.status();
    std::vector<int32_t> tokens = tokenizer.Encode(continuation, /*add_special_tokens=*/false);
    if (!tokens.empty() && tokens.front() == *prefix) {
      request.context = {tokens.front()};
      request.continuation.assign(tokens.begin() + 1, tokens.end());
    } else {
      request.context = {*prefix};
      request.continuation = std::move(tokens);
    }
  } else {
    size_t end = context.size();
    while (end > 0 && IsAsciiSpace(context[end - 1])) --end;
    const std::string moved_continuation = absl::StrCat(context.substr(end), continuation);
    const absl::string_view stripped_context = context.substr(0, end);
    absl::StatusOr<std::vector<int32_t>> whole =
        LmEvalEncode(tokenizer, absl::StrCat(stripped_context, moved_continuation));
    if (!whole.ok()) return whole.status();
    absl::StatusOr<std::vector<int32_t>> context_ids = LmEvalEncode(tokenizer, stripped_context);
    if (!context_ids.ok()) return context_ids.status();
    request.context = *std::move(context_ids);
    const size_t split = std::min(request.context.size(), whole->size());
    request.continuation.assign(whole->begin() + static_cast<std::ptrdiff_t>(split), whole->end());
  }
  if (request.continuation.empty()) {
    return absl::InvalidArgumentError("the continuation encodes to no token: nothing to score");
  }
  return request;
}

std::vector<TokenRequest> RollingWindows(const std::vector<int32_t>& tokens, int32_t prefix_token, int64_t max_len) {
  std::vector<TokenRequest> windows;
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0 || max_len < 1) return windows;
  auto slice = [&](int64_t begin, int64_t end) {
    begin = std::max<int64_t>(begin, 0);
    return std::vector<int32_t>(tokens.begin() + begin, tokens.begin() + std::max(begin, end));
  };
  // context_len = 1: each window after the first predicts up to max_len tokens.
  const int64_t first = std::min(max_len, n);
  TokenRequest head;
  head.context = {prefix_token};
  head.continuation = slice(0, first);
  windows.push_back(std::move(head));
  for (int64_t predicted = first; predicted < n;) {
    const int64_t pred_len = std::min(n - predicted, max_len);
    const int64_t window_end = predicted + pred_len;
    // Input tokens [window_end - max_len - 1, window_end - 1); made disjoint: drop the last pred_len - 1.
    std::vector<int32_t> input = slice(window_end - max_len - 1, window_end - 1);
    input.resize(input.size() - static_cast<size_t>(pred_len - 1));
    windows.push_back({std::move(input), slice(window_end - pred_len, window_end)});
    predicted += pred_len;
  }
  return windows;
}

}  // namespace ftd
