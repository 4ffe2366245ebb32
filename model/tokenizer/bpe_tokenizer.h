// BpeTokenizer: the Tokenizer assembled from tokenizer.json's parts (added tokens, normalizer, pre-tokenizer,
// BPE model, post-processor, decoder), run in HF tokenizers' order.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/tokenizer/added_tokens.h"
#include "model/tokenizer/bpe_model.h"
#include "model/tokenizer/decoders.h"
#include "model/tokenizer/normalizers.h"
#include "model/tokenizer/post_processors.h"
#include "model/tokenizer/pre_tokenizers.h"
#include "model/tokenizer/tokenizer.h"

namespace ftd::tok {

// The parts of a tokenizer; any but the model and the vocabulary may be null.
struct TokenizerParts {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  AddedVocabulary added;
  bool byte_level = false;
};

// Immutable after construction; Encode/Decode are thread-safe (each call keeps its own word cache).
class BpeTokenizer : public Tokenizer {
 public:
  explicit BpeTokenizer(TokenizerParts parts) : parts_(std::move(parts)) {}

  std::vector<int32_t> Encode(absl::string_view text, bool add_special_tokens) const override;
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const override;
  int32_t vocab_size() const override;
  std::optional<int32_t> TokenToId(absl::string_view token) const override;
  std::optional<std::string> IdToToken(int32_t id) const override;
  bool IsSpecial(int32_t id) const override;
  std::string kind() const override { return parts_.byte_level ? "byte_level_bpe" : "sentencepiece_bpe"; }

 private:
  void EncodePlain(absl::string_view text, bool at_origin, std::vector<int32_t>* ids, BpeCache* cache) const;

  TokenizerParts parts_;
};

}  // namespace ftd::tok
