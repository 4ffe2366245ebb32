// AddedVocabulary: parsing and leftmost-longest matching (a byte trie; added-token lists are short).
#include "model/tokenizer/added_tokens.h"

#include <utility>

#include "common/status_macros.h"
#include "model/tokenizer/unicode_util.h"

namespace ftd::tok {
namespace {

bool IsWordChar(char32_t cp) { return IsAlphanumeric(cp) || cp == '_'; }

// Code point ending just before `pos`.
char32_t PrevChar(absl::string_view text, size_t pos, size_t* start) {
  size_t s = pos - 1;
  while (s > 0 && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
  int len = 0;
  *start = s;
  return DecodeUtf8(text, s, &len);
}

}  // namespace

void AddedVocabulary::Trie::Insert(absl::string_view pattern, int32_t token_index) {
  int32_t node = 0;
  for (char c : pattern) {
    const auto byte = static_cast<unsigned char>(c);
    auto it = nodes[node].children.find(byte);
    if (it == nodes[node].children.end()) {
      nodes.emplace_back();
      const int32_t child = static_cast<int32_t>(nodes.size()) - 1;
      nodes[node].children[byte] = child;
      node = child;
    } else {
      node = it->second;
    }
  }
  if (nodes[node].token_index < 0) nodes[node].token_index = token_index;
}

absl::StatusOr<AddedVocabulary> AddedVocabulary::Create(const Json* added_tokens,
                                                        const Normalizer* normalizer) {
  AddedVocabulary vocab;
  if (added_tokens == nullptr || added_tokens->is_null()) return vocab;
  if (!added_tokens->is_array()) return JsonError("added_tokens", "expected an array");
  for (size_t i = 0; i < added_tokens->size(); ++i) {
    const Json& entry = (*added_tokens)[i];
    const std::string path = IndexPath("added_tokens", i);
    if (!entry.is_object()) return JsonError(path, "expected an object");
    AddedToken token;
    ASSIGN_OR_RETURN(token.content, GetString(entry, "content", path));
    ASSIGN_OR_RETURN(int64_t id, GetInt(entry, "id", -1, path));
    if (id < 0 || id > INT32_MAX) return JsonError(JoinPath(path, "id"), "expected a non-negative id");
    token.id = static_cast<int32_t>(id);
    ASSIGN_OR_RETURN(token.special, GetBool(entry, "special", false, path));
    ASSIGN_OR_RETURN(token.normalized, GetBool(entry, "normalized", !token.special, path));
    ASSIGN_OR_RETURN(token.lstrip, GetBool(entry, "lstrip", false, path));
    ASSIGN_OR_RETURN(token.rstrip, GetBool(entry, "rstrip", false, path));
    ASSIGN_OR_RETURN(token.single_word, GetBool(entry, "single_word", false, path));
    if (token.content.empty()) continue;
    vocab.max_id_ = std::max(vocab.max_id_, token.id);
    vocab.by_content_.emplace(token.content, token.id);
    vocab.by_id_[token.id] = vocab.tokens_.size();
    vocab.tokens_.push_back(std::move(token));
  }
  // HF matches special tokens first, then the others, in one automaton: equal patterns keep the first.
  std::vector<int32_t> order;
  for (int32_t pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < vocab.tokens_.size(); ++i) {
      if (vocab.tokens_[i].special == (pass == 0)) order.push_back(static_cast<int32_t>(i));
    }
  }
  for (int32_t index : order) {
    AddedToken& token = vocab.tokens_[index];
    token.decode_form = token.content;
    if (!token.normalized) {
      vocab.raw_trie_.Insert(token.content, index);
    } else {
      if (normalizer != nullptr) token.decode_form = normalizer->Normalize(token.content);
      if (!token.decode_form.empty()) vocab.normalized_trie_.Insert(token.decode_form, index);
    }
  }
  return vocab;
}

std::vector<TextSegment> AddedVocabulary::Split(absl::string_view text, const Trie& trie) const {
  std::vector<TextSegment> out;
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < text.size() && trie.nodes[0].children.size() > 0) {
    // Longest pattern starting at pos.
    int32_t node = 0, best_index = -1;
    size_t best_end = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      auto it = trie.nodes[node].children.find(static_cast<unsigned char>(text[i]));
      if (it == trie.nodes[node].children.end()) break;
      node = it->second;
      if (trie.nodes[node].token_index >= 0) {
        best_index = trie.nodes[node].token_index;
        best_end = i + 1;
      }
    }
    if (best_index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[best_index];
    size_t start = pos, stop = best_end;
    if (token.single_word) {
      size_t unused = 0;
      int len = 0;
      const bool start_space = start == 0 || !IsWordChar(PrevChar(text, start, &unused));
      const bool stop_space = stop == text.size() || !IsWordChar(DecodeUtf8(text, stop, &len));
      if (!start_space || !stop_space) {
        pos = best_end;  // The automaton moves past a rejected match, as HF's find_iter does.
        continue;
      }
    }
    if (token.lstrip) {
      while (start > start_offset) {
        size_t prev_start = 0;
        if (!IsWhitespace(PrevChar(text, start, &prev_start))) break;
        start = prev_start;
      }
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        int len = 0;
        if (!IsWhitespace(DecodeUtf8(text, stop, &len))) break;
        stop += len;
      }
    }
    if (start_offset < start) out.push_back({-1, start_offset, start});
    out.push_back({token.id, start, stop});
    start_offset = stop;
    pos = stop;
  }
  if (start_offset < text.size()) out.push_back({-1, start_offset, text.size()});
  return out;
}

std::optional<int32_t> AddedVocabulary::TokenToId(absl::string_view content) const {
  auto it = by_content_.find(std::string(content));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* AddedVocabulary::FindById(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

}  // namespace ftd::tok
