// GreedyDecode: prefill, then argmax one token at a time (see greedy_decode.h).
#include "eval/greedy_decode.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ftd {

std::set<int32_t> StopTokenIds(const LlamaConfig& config, const Tokenizer& tokenizer) {
  std::set<int32_t> stop;
  for (int64_t id : config.eos_token_ids) stop.insert(static_cast<int32_t>(id));
  if (stop.empty() && tokenizer.config().eos_token.has_value()) {
    if (std::optional<int32_t> id = tokenizer.TokenToId(*tokenizer.config().eos_token)) stop.insert(*id);
  }
  return stop;
}

absl::StatusOr<std::vector<int32_t>> GreedyDecode(LlamaModel& model, const std::vector<int32_t>& prompt_ids,
                                                  int64_t max_new_tokens, const std::set<int32_t>& stop_ids) {
  if (prompt_ids.empty()) return absl::InvalidArgumentError("greedy decode: the prompt has no tokens");
  if (max_new_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("greedy decode: max_new_tokens must be >= 1, got ", max_new_tokens));
  }
  const int64_t prompt_len = static_cast<int64_t>(prompt_ids.size());
  const int64_t window = model.config().max_position_embeddings;
  if (prompt_len > window) {
    return absl::InvalidArgumentError(absl::StrCat("greedy decode: the prompt has ", prompt_len,
                                                   " tokens, more than the model's window of ", window));
  }
  // The last generated token is never fed back, so the cache needs one slot fewer than the tokens produced.
  ASSIGN_OR_RETURN(LlamaKvCache cache, model.NewKvCache(std::min(prompt_len + max_new_tokens - 1, window)));
  ASSIGN_OR_RETURN(std::vector<float> logits, model.Decode(&cache, prompt_ids));
  std::vector<int32_t> generated;
  while (true) {
    const int32_t token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    generated.push_back(token);
    if (stop_ids.count(token) > 0 || static_cast<int64_t>(generated.size()) == max_new_tokens ||
        cache.length() == cache.max_len()) {
      break;
    }
    ASSIGN_OR_RETURN(logits, model.Decode(&cache, {token}));
  }
  return generated;
}

std::string ContinuationText(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt_ids,
                             const std::vector<int32_t>& generated_ids) {
  std::vector<int32_t> all = prompt_ids;
  all.insert(all.end(), generated_ids.begin(), generated_ids.end());
  const std::string full = tokenizer.Decode(all, /*skip_special_tokens=*/true);
  const std::string prompt = tokenizer.Decode(prompt_ids, /*skip_special_tokens=*/true);
  if (absl::StartsWith(full, prompt)) return full.substr(prompt.size());
  return tokenizer.Decode(generated_ids, /*skip_special_tokens=*/true);
}

}  // namespace ftd
