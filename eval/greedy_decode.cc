// GreedyDecode: prefill, then argmax one token at a time; GenerateUntil: lm-eval's generate_until on it (see
// greedy_decode.h).
#include "eval/greedy_decode.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/loglikelihood_request.h"

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
                                                  int64_t max_new_tokens, const std::set<int32_t>& stop_ids,
                                                  const StopAfter& stop_after) {
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
        cache.length() == cache.max_len() || (stop_after && stop_after(generated))) {
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

std::string CutAtStopSequences(absl::string_view text, const std::vector<std::string>& stop_sequences) {
  for (const std::string& stop : stop_sequences) {
    if (stop.empty()) continue;  // lm-eval skips '' (a seq2seq model's decoded EOS).
    const size_t at = text.find(stop);
    if (at != absl::string_view::npos) text = text.substr(0, at);
  }
  return std::string(text);
}

absl::StatusOr<GenerateUntilResult> GenerateUntil(LlamaModel& model, const Tokenizer& tokenizer,
                                                  absl::string_view context, const std::vector<std::string>& until,
                                                  int64_t max_gen_toks, int64_t max_length) {
  if (max_gen_toks < 1 || max_gen_toks >= max_length) {
    return absl::InvalidArgumentError(absl::StrCat("generate_until: max_gen_toks ", max_gen_toks,
                                                   " must be in [1, max_length ", max_length, ")"));
  }
  std::vector<std::string> stops = until;
  if (const std::optional<std::string>& eos = tokenizer.config().eos_token;
      eos.has_value() && std::find(stops.begin(), stops.end(), *eos) == stops.end()) {
    stops.push_back(*eos);
  }
  GenerateUntilResult result;
  ASSIGN_OR_RETURN(result.context, LmEvalEncode(tokenizer, context));
  const size_t max_context = static_cast<size_t>(max_length - max_gen_toks);
  if (result.context.size() > max_context) {
    result.context.erase(result.context.begin(), result.context.end() - static_cast<std::ptrdiff_t>(max_context));
  }
  if (result.context.empty()) return absl::InvalidArgumentError("generate_until: the context has no tokens");
  // MultiTokenEOSCriteria: each stop sequence looks back over its own token count + 2 generated tokens.
  std::vector<size_t> lookback;
  for (const std::string& stop : stops) {
    lookback.push_back(tokenizer.Encode(stop, /*add_special_tokens=*/false).size() + 2);
  }
  const StopAfter stop_after = [&](const std::vector<int32_t>& generated) {
    for (size_t s = 0; s < stops.size(); ++s) {
      const size_t n = std::min(lookback[s], generated.size());
      const std::string tail =
          tokenizer.Decode(std::vector<int32_t>(generated.end() - static_cast<std::ptrdiff_t>(n), generated.end()),
                           /*skip_special_tokens=*/false);
      if (absl::StrContains(tail, stops[s])) return true;
    }
    return false;
  };
  ASSIGN_OR_RETURN(result.generated, GreedyDecode(model, result.context, max_gen_toks,
                                                  StopTokenIds(model.config(), tokenizer), stop_after));
  result.text = CutAtStopSequences(tokenizer.Decode(result.generated, /*skip_special_tokens=*/true), stops);
  return result;
}

}  // namespace ftd
