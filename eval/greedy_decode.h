// Greedy decoding over the model's KV cache, as `ftd-worker generate` decodes with temperature 0 (the prompt
// prefilled once, then one token at a time): what the battery's generation-scored suites (long_context) need.
// eval must not depend on worker, so this is the battery's own small loop rather than the worker's sampler.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/llama/llama_model.h"
#include "model/tokenizer/tokenizer.h"

namespace ftd {

// The ids that end a generation: config.json's eos_token_id (an int or a list), else the tokenizer's eos_token;
// empty when neither names one.
std::set<int32_t> StopTokenIds(const LlamaConfig& config, const Tokenizer& tokenizer);

// Up to max_new_tokens tokens after prompt_ids, each the argmax of the logits (ties to the lowest id), stopping
// after a stop id (which is kept) or when the window (max_position_embeddings) is full. INVALID_ARGUMENT for an
// empty prompt, max_new_tokens < 1, or a prompt longer than the window; errors of Decode.
absl::StatusOr<std::vector<int32_t>> GreedyDecode(LlamaModel& model, const std::vector<int32_t>& prompt_ids,
                                                  int64_t max_new_tokens, const std::set<int32_t>& stop_ids);

// The text the generated ids add: decode(prompt + generated) minus decode(prompt), special tokens skipped, so a
// SentencePiece word's leading space survives; decode(generated) when the first is not a prefix.
std::string ContinuationText(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt_ids,
                             const std::vector<int32_t>& generated_ids);

}  // namespace ftd
