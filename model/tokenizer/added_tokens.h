// Added tokens (tokenizer.json's "added_tokens"): the vocabulary outside the model and the leftmost-longest
// splitting of text on them, with lstrip/rstrip/single_word, done before (non-normalized tokens) and after
// (normalized tokens, matched in their normalized form) the normalizer, as HF's AddedVocabulary does.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/tokenizer/json_util.h"
#include "model/tokenizer/normalizers.h"

namespace ftd::tok {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool normalized = true;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  // What decoding emits for this token: for a normalized token the normalizer's output ("<s>" -> "▁<s>"
  // under a Prepend normalizer), which HF tokenizers' fixtures show it feeds to the decoder.
  std::string decode_form;
};

// A piece of split text: an added token (id >= 0) or plain text [begin, end).
struct TextSegment {
  int32_t id;
  size_t begin;
  size_t end;
};

// Immutable after Create; thread-safe.
class AddedVocabulary {
 public:
  // `normalizer` (may be null) turns the contents of normalized tokens into the form matched after it ran.
  static absl::StatusOr<AddedVocabulary> Create(const Json* added_tokens, const Normalizer* normalizer);

  // Splits raw text on the non-normalized tokens, or normalized text on the normalized ones. Empty plain
  // segments are dropped.
  std::vector<TextSegment> SplitRaw(absl::string_view text) const { return Split(text, raw_trie_); }
  std::vector<TextSegment> SplitNormalized(absl::string_view text) const {
    return Split(text, normalized_trie_);
  }

  std::optional<int32_t> TokenToId(absl::string_view content) const;
  const AddedToken* FindById(int32_t id) const;
  int32_t max_id() const { return max_id_; }
  bool empty() const { return by_id_.empty(); }

 private:
  // A byte trie over token patterns; nodes_[0] is the root.
  struct Trie {
    struct Node {
      std::map<unsigned char, int32_t> children;
      int32_t token_index = -1;  // Index into tokens_ when a pattern ends here.
    };
    std::vector<Node> nodes = std::vector<Node>(1);
    void Insert(absl::string_view pattern, int32_t token_index);
  };
  std::vector<TextSegment> Split(absl::string_view text, const Trie& trie) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, int32_t> by_content_;
  Trie raw_trie_;
  Trie normalized_trie_;
  int32_t max_id_ = -1;
};

}  // namespace ftd::tok
