// RunGenerate: check the options, load the model, prefill the prompt into a KV cache, then sample one token at a
// time (worker/sampling) until a stop condition, and print the continuation.
#include "worker/generate_command.h"

#include <algorithm>
#include <ostream>
#include <random>
#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/inference_model.h"

namespace ftd {
namespace {

struct Generation {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> generated_ids;
  std::string stop_reason;
};

absl::Status ValidateOptions(const GenerateOptions& options) {
  if (options.prompt.empty()) return absl::InvalidArgumentError("the prompt is empty");
  if (options.max_new_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_new_tokens must be >= 1, got ", options.max_new_tokens));
  }
  return ValidateSampling(options.sampling);
}

// config.json's eos_token_id (an int or a list), else the tokenizer's eos_token; empty when neither names one.
std::set<int32_t> EosIds(const LlamaConfig& config, const Tokenizer& tokenizer) {
  std::set<int32_t> eos(config.eos_token_ids.begin(), config.eos_token_ids.end());
  if (eos.empty() && tokenizer.config().eos_token.has_value()) {
    if (std::optional<int32_t> id = tokenizer.TokenToId(*tokenizer.config().eos_token)) eos.insert(*id);
  }
  return eos;
}

absl::StatusOr<Generation> Generate(LlamaModel& model, const Tokenizer& tokenizer, const GenerateOptions& options) {
  Generation g;
  g.prompt_ids = tokenizer.Encode(options.prompt, /*add_special_tokens=*/true);
  const int64_t prompt_len = static_cast<int64_t>(g.prompt_ids.size());
  const int64_t window = model.config().max_position_embeddings;
  if (prompt_len > window) {
    return absl::InvalidArgumentError(
        absl::StrCat("the prompt has ", prompt_len, " tokens, more than the model's window of ", window));
  }
  // The last generated token is never fed back, so the cache needs one slot fewer than the tokens produced.
  ASSIGN_OR_RETURN(LlamaKvCache cache, model.NewKvCache(std::min(prompt_len + options.max_new_tokens - 1, window)));
  const std::set<int32_t> eos = EosIds(model.config(), tokenizer);
  std::mt19937_64 rng(options.seed);
  ASSIGN_OR_RETURN(std::vector<float> logits, model.Decode(&cache, g.prompt_ids));
  while (true) {
    const int32_t token = SampleToken(logits, options.sampling, rng);
    g.generated_ids.push_back(token);
    if (eos.count(token) > 0) {
      g.stop_reason = "eos";
      break;
    }
    if (static_cast<int64_t>(g.generated_ids.size()) == options.max_new_tokens) {
      g.stop_reason = "max_new_tokens";
      break;
    }
    if (cache.length() == cache.max_len()) {
      g.stop_reason = "max_length";
      break;
    }
    ASSIGN_OR_RETURN(logits, model.Decode(&cache, {token}));
  }
  return g;
}

// The text the generated tokens add to the prompt: decode(prompt + generated) minus decode(prompt), so a
// SentencePiece word's leading space survives (decoding the new ids alone would strip it as the first token's).
std::string ContinuationText(const Tokenizer& tokenizer, const Generation& g) {
  std::vector<int32_t> all = g.prompt_ids;
  all.insert(all.end(), g.generated_ids.begin(), g.generated_ids.end());
  const std::string full = tokenizer.Decode(all, /*skip_special_tokens=*/true);
  const std::string prompt = tokenizer.Decode(g.prompt_ids, /*skip_special_tokens=*/true);
  if (absl::StartsWith(full, prompt)) return full.substr(prompt.size());
  return tokenizer.Decode(g.generated_ids, /*skip_special_tokens=*/true);
}

}  // namespace

absl::Status RunGenerate(const GenerateOptions& options, std::ostream& out) {
  RETURN_IF_ERROR(ValidateOptions(options));
  const LlamaLoadOptions load{.quantize = options.quantize_base};
  ASSIGN_OR_RETURN(InferenceModel loaded, LoadInferenceModel(options.model_dir, options.adapter_dir, load));
  ASSIGN_OR_RETURN(Generation g, Generate(*loaded.model, *loaded.tokenizer, options));
  const std::string text = ContinuationText(*loaded.tokenizer, g);
  if (options.output == GenerateOutput::kText) {
    out << text << "\n";
    return absl::OkStatus();
  }
  const nlohmann::ordered_json result = {{"prompt_tokens", g.prompt_ids.size()},
                                 {"generated_ids", g.generated_ids},
                                 {"text", text},
                                 {"stop_reason", g.stop_reason}};
  // Sampled byte-fallback tokens can end mid-character: invalid UTF-8 becomes U+FFFD instead of an exception.
  out << result.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  return absl::OkStatus();
}

}  // namespace ftd
