// lm-evaluation-harness's request encoding, so ftd scores the same tokens lm-eval does: a loglikelihood
// request's (context, continuation) token split (HFLM._encode_pair) and the disjoint windows of a rolling
// loglikelihood (utils.get_rolling_token_windows + make_disjoint_window), as of lm_eval 0.4.13.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/tokenizer/tokenizer.h"

namespace ftd {

struct TokenRequest {
  std::vector<int32_t> context;       // Conditioning tokens.
  std::vector<int32_t> continuation;  // Tokens whose log-probabilities are summed.
};

// lm-eval's prefix token for an empty context or the first rolling window: the tokenizer's BOS, else its EOS
// (HFLM.prefix_token_id without a custom prefix). FAILED_PRECONDITION when the tokenizer has neither.
absl::StatusOr<int32_t> PrefixTokenId(const Tokenizer& tokenizer);

// HFLM.tok_encode: Encode(text) with the tokenizer's special tokens (BOS) unless the text already starts
// with the prefix token's text.
absl::StatusOr<std::vector<int32_t>> LmEvalEncode(const Tokenizer& tokenizer, absl::string_view text);

// lm-eval's encoding of a loglikelihood request for a causal model:
//   - empty context: continuation = Encode(continuation, no special tokens); context = [prefix token], or,
//     when the continuation already starts with the prefix token, that first token;
//   - otherwise trailing whitespace of the context moves to the front of the continuation, then
//     context = LmEvalEncode(context), continuation = LmEvalEncode(context + continuation)[len(context):].
// INVALID_ARGUMENT when the continuation encodes to no token (nothing to score).
absl::StatusOr<TokenRequest> EncodeLoglikelihoodRequest(const Tokenizer& tokenizer, absl::string_view context,
                                                        absl::string_view continuation);

// The disjoint windows lm-eval scores for loglikelihood_rolling over `tokens` (LmEvalEncode of the text) with a model window of
// `max_len` tokens: the first window predicts tokens[0, min(max_len, n)) from [prefix] + tokens; each later
// window predicts the next up-to-max_len tokens from the tokens just before them. Every token is scored
// exactly once. Empty for no tokens.
std::vector<TokenRequest> RollingWindows(const std::vector<int32_t>& tokens, int32_t prefix_token, int64_t max_len);

}  // namespace ftd
