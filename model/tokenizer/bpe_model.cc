// BPE model: vocab/merges parsing (both "a b" strings and [a, b] pairs) and the rank-ordered merge loop.
#include "model/tokenizer/bpe_model.h"

#include <queue>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace ftd::tok {
namespace {

constexpr absl::string_view kMetaspace = "\xE2\x96\x81";  // U+2581

// A symbol of a word being merged: a token id, linked to its live neighbours.
struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  bool removed;
};

struct QueuedMerge {
  int32_t rank;
  int32_t pos;
  int32_t new_id;
  // Lowest rank first, then leftmost position (HF's Merge ordering in a max-heap).
  bool operator<(const QueuedMerge& other) const {
    if (rank != other.rank) return rank > other.rank;
    return pos > other.pos;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const Json& json, const std::string& path) {
  auto model = std::unique_ptr<BpeModel>(new BpeModel());
  auto vocab_it = json.find("vocab");
  if (vocab_it == json.end() || !vocab_it->is_object()) {
    return JsonError(JoinPath(path, "vocab"), "expected an object of token -> id");
  }
  int64_t max_id = -1;
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() > INT32_MAX) {
      return JsonError(JoinPath(JoinPath(path, "vocab"), it.key()), "expected a non-negative id");
    }
    const int64_t id = it.value().get<int64_t>();
    model->vocab_[it.key()] = static_cast<int32_t>(id);
    max_id = std::max(max_id, id);
  }
  model->id_to_token_.resize(static_cast<size_t>(max_id + 1));
  for (const auto& [token, id] : model->vocab_) model->id_to_token_[id] = token;

  ASSIGN_OR_RETURN(auto unk, GetOptionalString(json, "unk_token", path));
  if (unk.has_value()) {
    auto it = model->vocab_.find(*unk);
    if (it == model->vocab_.end()) {
      return JsonError(JoinPath(path, "unk_token"), absl::StrCat("\"", *unk, "\" is not in the vocab"));
    }
    model->unk_id_ = it->second;
  }
  ASSIGN_OR_RETURN(auto prefix, GetOptionalString(json, "continuing_subword_prefix", path));
  model->continuing_subword_prefix_ = prefix.value_or("");
  ASSIGN_OR_RETURN(auto suffix, GetOptionalString(json, "end_of_word_suffix", path));
  model->end_of_word_suffix_ = suffix.value_or("");
  ASSIGN_OR_RETURN(model->fuse_unk_, GetBool(json, "fuse_unk", false, path));
  ASSIGN_OR_RETURN(model->byte_fallback_, GetBool(json, "byte_fallback", false, path));
  ASSIGN_OR_RETURN(model->ignore_merges_, GetBool(json, "ignore_merges", false, path));
  if (auto it = json.find("dropout"); it != json.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() != 0.0) {
      return JsonError(JoinPath(path, "dropout"), "BPE dropout is not supported");
    }
  }
  if (model->byte_fallback_) {
    model->byte_ids_.assign(256, -1);
    for (int b = 0; b < 256; ++b) {
      auto it = model->vocab_.find(absl::StrFormat("<0x%02X>", b));
      if (it != model->vocab_.end()) model->byte_ids_[b] = it->second;
    }
  }

  model->split_at_metaspace_ = model->continuing_subword_prefix_.empty() &&
                               model->end_of_word_suffix_.empty() && !model->ignore_merges_ &&
                               model->vocab_.contains(kMetaspace);
  for (const auto& [token, id] : model->vocab_) {
    if (!model->split_at_metaspace_) break;
    size_t lead = 0;
    while (absl::string_view(token).substr(lead, kMetaspace.size()) == kMetaspace) lead += kMetaspace.size();
    if (token.find(kMetaspace.data(), lead, kMetaspace.size()) != std::string::npos) {
      model->split_at_metaspace_ = false;
    }
  }

  const std::string merges_path = JoinPath(path, "merges");
  ASSIGN_OR_RETURN(const Json* merges, GetArray(json, "merges", path));
  const size_t prefix_len = model->continuing_subword_prefix_.size();
  model->merges_.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const Json& entry = (*merges)[i];
    std::string a, b;
    if (entry.is_string()) {
      const std::string line = entry.get<std::string>();
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        return JsonError(IndexPath(merges_path, i), absl::StrCat("merge \"", line, "\" is not two tokens"));
      }
      a = line.substr(0, space);
      b = line.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
      a = entry[0].get<std::string>();
      b = entry[1].get<std::string>();
    } else {
      return JsonError(IndexPath(merges_path, i), "expected \"a b\" or [\"a\", \"b\"]");
    }
    auto a_it = model->vocab_.find(a);
    auto b_it = model->vocab_.find(b);
    if (a_it == model->vocab_.end() || b_it == model->vocab_.end()) {
      return JsonError(
          IndexPath(merges_path, i),
          absl::StrCat("merge token \"", a_it == model->vocab_.end() ? a : b, "\" is not in the vocab"));
    }
    const std::string merged = a + (b.size() >= prefix_len ? b.substr(prefix_len) : b);
    auto merged_it = model->vocab_.find(merged);
    if (merged_it == model->vocab_.end()) {
      return JsonError(IndexPath(merges_path, i),
                       absl::StrCat("merged token \"", merged, "\" is not in the vocab"));
    }
    model->merges_[PairKey(a_it->second, b_it->second)] = {static_cast<int32_t>(i), merged_it->second};
  }
  return model;
}

std::vector<int32_t> BpeModel::MergeWord(absl::string_view word) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  const auto add = [&](int32_t id) {
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, false});
  };
  // A run of unknown characters waiting to be emitted as one (fuse_unk) or several unk ids.
  bool pending_unk = false;
  std::string piece;
  size_t pos = 0;
  while (pos < word.size()) {
    size_t len = 1;
    const unsigned char lead = static_cast<unsigned char>(word[pos]);
    if (lead >= 0xF0)
      len = 4;
    else if (lead >= 0xE0)
      len = 3;
    else if (lead >= 0xC0)
      len = 2;
    len = std::min(len, word.size() - pos);
    const bool is_first = pos == 0;
    const bool is_last = pos + len >= word.size();
    absl::string_view ch = word.substr(pos, len);
    pos += len;
    absl::string_view lookup = ch;
    if ((!is_first && !continuing_subword_prefix_.empty()) || (is_last && !end_of_word_suffix_.empty())) {
      piece.clear();
      if (!is_first) piece += continuing_subword_prefix_;
      piece.append(ch.data(), ch.size());
      if (is_last) piece += end_of_word_suffix_;
      lookup = piece;
    }
    if (auto it = vocab_.find(lookup); it != vocab_.end()) {
      if (pending_unk) {
        add(*unk_id_);
        pending_unk = false;
      }
      add(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes = true;
      for (char c : lookup) all_bytes = all_bytes && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all_bytes) {
        // HF emits the bytes without flushing a pending unk first; keep that order.
        for (char c : lookup) add(byte_ids_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (unk_id_.has_value()) {
      if (pending_unk && !fuse_unk_) add(*unk_id_);
      pending_unk = true;
    }
  }
  if (pending_unk) add(*unk_id_);
  if (symbols.empty()) return {};
  symbols.back().next = -1;

  std::priority_queue<QueuedMerge> queue;
  const auto find_merge = [&](int32_t a, int32_t b) -> const Merge* {
    auto it = merges_.find(PairKey(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (const Merge* m = find_merge(symbols[i].id, symbols[i + 1].id)) {
      queue.push({m->rank, static_cast<int32_t>(i), m->new_id});
    }
  }
  while (!queue.empty()) {
    const QueuedMerge top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.removed || left.next < 0) continue;
    const int32_t right_pos = left.next;
    Symbol& right = symbols[right_pos];
    const Merge* current = find_merge(left.id, right.id);
    if (current == nullptr || current->new_id != top.new_id) continue;  // Stale queue entry.
    left.id = top.new_id;
    left.next = right.next;
    right.removed = true;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) {
      if (const Merge* m = find_merge(symbols[left.prev].id, left.id)) {
        queue.push({m->rank, left.prev, m->new_id});
      }
    }
    if (left.next >= 0) {
      if (const Merge* m = find_merge(left.id, symbols[left.next].id)) {
        queue.push({m->rank, top.pos, m->new_id});
      }
    }
  }
  std::vector<int32_t> ids;
  for (const Symbol& s : symbols) {
    if (!s.removed) ids.push_back(s.id);
  }
  return ids;
}

void BpeModel::Tokenize(absl::string_view word, std::vector<int32_t>* ids, BpeCache* cache) const {
  if (word.empty()) return;
  if (!split_at_metaspace_) {
    TokenizeCached(word, ids, cache);
    return;
  }
  size_t start = 0;
  for (size_t pos = word.find(kMetaspace, 1); pos != absl::string_view::npos;
       pos = word.find(kMetaspace, pos + 1)) {
    // Cut before a "▁" that follows another character (not inside a run of "▁").
    if (pos >= kMetaspace.size() && word.substr(pos - kMetaspace.size(), kMetaspace.size()) == kMetaspace) {
      continue;
    }
    TokenizeCached(word.substr(start, pos - start), ids, cache);
    start = pos;
  }
  TokenizeCached(word.substr(start), ids, cache);
}

void BpeModel::TokenizeCached(absl::string_view word, std::vector<int32_t>* ids, BpeCache* cache) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  if (cache != nullptr) {
    if (auto it = cache->find(word); it != cache->end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> merged = MergeWord(word);
  ids->insert(ids->end(), merged.begin(), merged.end());
  if (cache != nullptr) cache->emplace(std::string(word), std::move(merged));
}

std::optional<int32_t> BpeModel::TokenToId(absl::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return std::nullopt;
  if (id_to_token_[id].empty()) return std::nullopt;
  return id_to_token_[id];
}

}  // namespace ftd::tok
