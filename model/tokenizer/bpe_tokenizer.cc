// BpeTokenizer's encode (added tokens -> normalizer -> normalized added tokens -> pre-tokenizer -> BPE ->
// post-processor) and decode (id -> token strings -> decoder chain).
#include "model/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_join.h"
#include "model/tokenizer/unicode_util.h"

namespace ftd::tok {

void BpeTokenizer::EncodePlain(absl::string_view text, bool at_origin, std::vector<int32_t>* ids,
                               BpeCache* cache) const {
  const std::string normalized =
      parts_.normalizer != nullptr ? parts_.normalizer->Normalize(text) : std::string(text);
  std::vector<PreToken> words;
  for (const TextSegment& seg : parts_.added.SplitNormalized(normalized)) {
    if (seg.id >= 0) {
      if (!words.empty()) {
        // Keep the order: tokenize what came before this added token first.
        if (parts_.pre_tokenizer != nullptr) parts_.pre_tokenizer->PreTokenize(&words);
        for (const PreToken& word : words) parts_.model->Tokenize(word.text, ids, cache);
        words.clear();
      }
      ids->push_back(seg.id);
      continue;
    }
    words.push_back({normalized.substr(seg.begin, seg.end - seg.begin), at_origin && seg.begin == 0});
  }
  if (parts_.pre_tokenizer != nullptr) parts_.pre_tokenizer->PreTokenize(&words);
  for (const PreToken& word : words) parts_.model->Tokenize(word.text, ids, cache);
}

std::vector<int32_t> BpeTokenizer::Encode(absl::string_view text, bool add_special_tokens) const {
  std::string repaired;
  if (!IsValidUtf8(text)) {
    repaired = Utf8Lossy(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  BpeCache cache;
  for (const TextSegment& seg : parts_.added.SplitRaw(text)) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
    } else {
      EncodePlain(text.substr(seg.begin, seg.end - seg.begin), seg.begin == 0, &ids, &cache);
    }
  }
  if (add_special_tokens && parts_.post_processor != nullptr) parts_.post_processor->AddSpecialTokens(&ids);
  return ids;
}

std::string BpeTokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (const AddedToken* added = parts_.added.FindById(id)) {
      if (skip_special_tokens && added->special) continue;
      tokens.push_back(added->decode_form);
      continue;
    }
    std::optional<std::string> token = parts_.model->IdToToken(id);
    if (!token.has_value()) continue;
    if (skip_special_tokens) {
      // HF filters by content: a model token equal to a special added token is skipped too.
      if (auto added_id = parts_.added.TokenToId(*token)) {
        const AddedToken* added = parts_.added.FindById(*added_id);
        if (added != nullptr && added->special) continue;
      }
    }
    tokens.push_back(std::move(*token));
  }
  if (parts_.decoder == nullptr) return absl::StrJoin(tokens, " ");
  parts_.decoder->DecodeChain(&tokens);
  return absl::StrJoin(tokens, "");
}

int32_t BpeTokenizer::vocab_size() const {
  return std::max(parts_.model->max_id(), parts_.added.max_id()) + 1;
}

std::optional<int32_t> BpeTokenizer::TokenToId(absl::string_view token) const {
  if (auto id = parts_.added.TokenToId(token)) return id;
  return parts_.model->TokenToId(token);
}

std::optional<std::string> BpeTokenizer::IdToToken(int32_t id) const {
  if (const AddedToken* added = parts_.added.FindById(id)) return added->content;
  return parts_.model->IdToToken(id);
}

bool BpeTokenizer::IsSpecial(int32_t id) const {
  const AddedToken* added = parts_.added.FindById(id);
  return added != nullptr && added->special;
}

}  // namespace ftd::tok
