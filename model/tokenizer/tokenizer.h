// Tokenizer: Hugging Face tokenizer.json loaded and run with the same ids as HF tokenizers, for the BPE
// families Llama-style models use: byte-level BPE (GPT-2, Llama-3, Qwen2, Phi-2) and SentencePiece-style BPE
// with byte fallback (Llama-2, Mistral, Phi-3; the Prepend and the Metaspace forms). Unigram/WordPiece models
// are refused by name.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ftd {

// What tokenizer_config.json adds: special tokens by role and the chat template text (kept for later use).
struct TokenizerConfig {
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<std::string> pad_token;
  std::optional<std::string> unk_token;
  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
  std::string chat_template;  // Jinja source as stored; empty when absent.
  int64_t model_max_length = 0;  // 0 when absent or absurd (HF writes 1e30 for "none").
};

// Immutable after construction; Encode/Decode are thread-safe.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Parses tokenizer.json. INVALID_ARGUMENT naming the JSON path of anything unsupported or malformed
  // ("model.type: unsupported tokenizer model \"Unigram\"").
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(absl::string_view json_text);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::string& path);
  // tokenizer.json (required) and tokenizer_config.json (optional) from a model directory.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromDir(const std::string& dir);

  // HF's tokenizer(text, add_special_tokens=...)["input_ids"]: added tokens split out first, normalizer,
  // pre-tokenizer, model, then the post-processor's special tokens when add_special_tokens.
  virtual std::vector<int32_t> Encode(absl::string_view text, bool add_special_tokens = true) const = 0;
  // HF's tokenizer.decode(ids, skip_special_tokens=...): decoder chain (ByteLevel, or Replace/ByteFallback/
  // Fuse/Strip). Unknown ids are skipped.
  virtual std::string Decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const = 0;

  // Vocabulary size including added tokens (max id + 1).
  virtual int32_t vocab_size() const = 0;
  virtual std::optional<int32_t> TokenToId(absl::string_view token) const = 0;
  virtual std::optional<std::string> IdToToken(int32_t id) const = 0;
  virtual bool IsSpecial(int32_t id) const = 0;
  // "byte_level_bpe" or "sentencepiece_bpe".
  virtual std::string kind() const = 0;

  const TokenizerConfig& config() const { return config_; }
  void set_config(TokenizerConfig config) { config_ = std::move(config); }

 private:
  TokenizerConfig config_;
};

// Parses tokenizer_config.json text.
absl::StatusOr<TokenizerConfig> ParseTokenizerConfig(absl::string_view json_text);

}  // namespace ftd
