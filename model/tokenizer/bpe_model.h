// The BPE model of tokenizer.json ("model": {"type": "BPE", vocab, merges, ...}): merges by rank over a
// linked list of symbols, exactly as HF tokenizers' Word::merge_all, with unk and byte fallback.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/tokenizer/json_util.h"

namespace ftd::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(absl::string_view s) const {
    return std::hash<std::string_view>()(std::string_view(s.data(), s.size()));
  }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Per-Encode word cache (a word's ids); kept by the caller so the model itself stays immutable.
using BpeCache = std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>>;

// Immutable after FromJson; Tokenize is thread-safe.
class BpeModel {
 public:
  // `json` is tokenizer.json's "model" object, `path` its JSON path for messages.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const Json& json, const std::string& path);

  // Appends the ids of one pre-tokenized word. `cache` may be null.
  void Tokenize(absl::string_view word, std::vector<int32_t>* ids, BpeCache* cache) const;

  std::optional<int32_t> TokenToId(absl::string_view token) const;
  std::optional<std::string> IdToToken(int32_t id) const;
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  std::vector<int32_t> MergeWord(absl::string_view word) const;
  void TokenizeCached(absl::string_view word, std::vector<int32_t>* ids, BpeCache* cache) const;

  TokenMap vocab_;
  std::vector<std::string> id_to_token_;  // Empty strings for ids the vocab skips.
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<int32_t> unk_id_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::vector<int32_t> byte_ids_;  // <0xXX> ids when byte_fallback, -1 where missing.
  // True when no vocab token has "▁" after another character, so no merge can join "x" and a following
  // "▁": a SentencePiece-style text (one word when there is no pre-tokenizer) may then be cut before each
  // such "▁" and its pieces merged and cached separately with the same result.
  bool split_at_metaspace_ = false;
};

}  // namespace ftd::tok
