// Greedy decoding over the model's KV cache, as `ftd-worker generate` decodes with temperature 0 (the prompt
// prefilled once, then one token at a time): what the battery's generation-scored suites (long_context, the task
// suite's exact_match) need, and lm-eval 0.4.13's HFLM.generate_until on top of it. eval must not depend on worker,
// so this is the battery's own small loop rather than the worker's sampler.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/llama/llama_model.h"
#include "model/tokenizer/tokenizer.h"

namespace ftd {

// The ids that end a generation: config.json's eos_token_id (an int or a list), else the tokenizer's eos_token;
// empty when neither names one.
std::set<int32_t> StopTokenIds(const LlamaConfig& config, const Tokenizer& tokenizer);

// Called with the tokens generated so far after each new one; true ends the generation (that token kept).
using StopAfter = std::function<bool(const std::vector<int32_t>& generated)>;

// Up to max_new_tokens tokens after prompt_ids, each the argmax of the logits (ties to the lowest id), stopping
// after a stop id (which is kept), when `stop_after` (may be empty) says so, or when the window
// (max_position_embeddings) is full. INVALID_ARGUMENT for an empty prompt, max_new_tokens < 1, or a prompt longer
// than the window; errors of Decode.
absl::StatusOr<std::vector<int32_t>> GreedyDecode(LlamaModel& model, const std::vector<int32_t>& prompt_ids,
                                                  int64_t max_new_tokens, const std::set<int32_t>& stop_ids,
                                                  const StopAfter& stop_after = {});

// The text the generated ids add: decode(prompt + generated) minus decode(prompt), special tokens skipped, so a
// SentencePiece word's leading space survives; decode(generated) when the first is not a prefix.
std::string ContinuationText(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt_ids,
                             const std::vector<int32_t>& generated_ids);

// lm-eval's postprocess_generated_text: for each non-empty stop sequence in turn, the text before its first
// occurrence (Python's generation.split(term)[0]).
std::string CutAtStopSequences(absl::string_view text, const std::vector<std::string>& stop_sequences);

struct GenerateUntilResult {
  std::vector<int32_t> context;    // The prompt's tokens as generated from, after left truncation.
  std::vector<int32_t> generated;  // What HF's generate returns after the context (a stop id kept).
  std::string text;                // decode(generated), special tokens skipped, cut at the stop sequences.
};

// One generate_until request as lm-eval 0.4.13's HFLM.generate_until runs it for a causal model with batch size 1
// and greedy settings (do_sample false, no chat template):
//   - the stop sequences are `until` plus the EOS token's text (handle_stop_sequences; tokenizer_config's
//     eos_token, left out when it names none);
//   - the context is tok_batch_encode'd (LmEvalEncode: BOS unless the text starts with it) and left-truncated to
//     its last max_length - max_gen_toks tokens;
//   - greedy decoding of up to max_gen_toks tokens, ending at an EOS id (StopTokenIds; HF's generation_config
//     eos_token_id, which ftd reads from config.json) or after the token with which decode(the last
//     len(Encode(stop, no special tokens)) + 2 generated tokens, special tokens kept) contains a stop sequence
//     (MultiTokenEOSCriteria);
//   - tok_decode of the generated ids (skip_special_tokens; HF's clean_up_tokenization_spaces is not applied,
//     as for the Llama-3 style tokenizers, where it is false) cut by CutAtStopSequences.
// INVALID_ARGUMENT for max_gen_toks < 1 or >= max_length (lm-eval asserts max_length - max_gen_toks > 0), or a
// context that encodes to no tokens; errors of Decode.
absl::StatusOr<GenerateUntilResult> GenerateUntil(LlamaModel& model, const Tokenizer& tokenizer,
                                                  absl::string_view context, const std::vector<std::string>& until,
                                                  int64_t max_gen_toks, int64_t max_length);

}  // namespace ftd
