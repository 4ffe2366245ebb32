// Import of a llama2.c legacy (v0) checkpoint and its tokenizer (tok*.bin) into a Hugging Face Llama model
// directory: HF tensor names, wq/wk rows permuted from llama2.c's interleaved RoPE pairs to HF's rotate_half
// layout (as transformers' convert_llama_weights_to_hf.py does), a config.json, and a SentencePiece-style BPE
// tokenizer.json with merges derived as transformers' SentencePiece converter derives them.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "model/model_config.h"
#include "model/tensor.h"

namespace ftd {

// The 7 x int32 header of a v0 checkpoint; a negative vocab_size on disk means an unshared classifier.
struct Llama2cHeader {
  int32_t dim = 0;
  int32_t hidden_dim = 0;
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t vocab_size = 0;  // Absolute value.
  int32_t seq_len = 0;
  bool shared_classifier = true;
};

struct Llama2cCheckpoint {
  Llama2cHeader header;
  // F32 tensors under HF names in LlamaTensorSpecs order, q_proj/k_proj rows already permuted.
  std::vector<std::pair<std::string, Tensor>> tensors;
};

// Reads and validates a v0 checkpoint (sizes must match the header exactly: DATA_LOSS when truncated).
absl::StatusOr<Llama2cCheckpoint> ReadLlama2cCheckpoint(const std::string& path);

// The HF config of an imported checkpoint: LlamaForCausalLM, rms_norm_eps 1e-5, rope_theta 10000, bos 1,
// eos 2, max_position_embeddings = seq_len, float32, tied embeddings when the classifier is shared.
LlamaConfig Llama2cConfig(const Llama2cHeader& header);

// permute(w, n_heads, dim1, dim2) of convert_llama_weights_to_hf.py on a row-major [dim1, dim2] matrix:
// w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2).
std::vector<float> PermuteRotaryRows(absl::Span<const float> w, int64_t n_heads, int64_t dim1, int64_t dim2);
// The inverse: HF layout back to llama2.c's interleaved pairs.
std::vector<float> UnpermuteRotaryRows(absl::Span<const float> w, int64_t n_heads, int64_t dim1, int64_t dim2);

// A llama2.c tokenizer file: int32 max_token_length, then per token float32 score, int32 length, bytes.
struct Llama2cTokenizer {
  int32_t max_token_length = 0;
  std::vector<std::string> pieces;  // As stored: spaces are ' ', bytes are "<0xNN>", ids 1/2 "\n<s>\n".
  std::vector<float> scores;
};
absl::StatusOr<Llama2cTokenizer> ReadLlama2cTokenizer(const std::string& path, int32_t vocab_size);

// The HF vocabulary of a llama2.c tokenizer: ids 0/1/2 named <unk>/<s>/</s>, ' ' written as U+2581.
std::vector<std::string> Llama2cHfPieces(const Llama2cTokenizer& tokenizer);
// BPE merges as transformers' SentencePieceExtractor derives them from a vocabulary with scores: every split
// of every piece into two pieces of the vocabulary, split at UTF-8 character boundaries, sorted within a
// piece by (left id, right id), then all stably sorted by the merged piece's score, highest first.
std::vector<std::pair<std::string, std::string>> SentencePieceMerges(const std::vector<std::string>& pieces,
                                                                     const std::vector<float>& scores);
// tokenizer.json (the form transformers gives a LlamaTokenizer: Metaspace pre-tokenizer (prepend "first": one
// "▁" unless the text starts with a space), BPE with byte fallback, <s> template, Replace/
// ByteFallback/Fuse/Strip decoder) and tokenizer_config.json texts.
std::string Llama2cTokenizerJson(const Llama2cTokenizer& tokenizer);
std::string Llama2cTokenizerConfigJson(int64_t model_max_length);

// Writes OUT_DIR with config.json, model.safetensors, tokenizer.json and tokenizer_config.json.
absl::Status ImportLlama2c(const std::string& checkpoint_path, const std::string& tokenizer_path,
                           const std::string& out_dir);

}  // namespace ftd
