// Pre-tokenizer implementations following HF tokenizers' split behaviours (Isolated, Removed, Contiguous,
// MergedWithPrevious, MergedWithNext, with invert) over PCRE2 or per-character matches.
#include "model/tokenizer/pre_tokenizers.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "common/status_macros.h"
#include "model/tokenizer/byte_level.h"
#include "model/tokenizer/normalizers.h"
#include "model/tokenizer/regex.h"
#include "model/tokenizer/unicode_util.h"

namespace ftd::tok {
namespace {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

absl::StatusOr<SplitBehavior> ParseBehavior(const Json& json, const std::string& path) {
  ASSIGN_OR_RETURN(std::string name, GetString(json, "behavior", path));
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return JsonError(JoinPath(path, "behavior"), absl::StrCat("unknown split behavior \"", name, "\""));
}

// HF's NormalizedString::split: turns the match spans into the byte ranges of the resulting words.
std::vector<std::pair<size_t, size_t>> ApplyBehavior(std::vector<MatchSpan> spans, SplitBehavior behavior,
                                                     bool invert) {
  if (invert) {
    for (auto& s : spans) s.is_match = !s.is_match;
  }
  std::vector<std::pair<size_t, size_t>> out;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const auto& s : spans) out.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::kRemoved:
      for (const auto& s : spans) {
        if (!s.is_match) out.emplace_back(s.begin, s.end);
      }
      break;
    case SplitBehavior::kContiguous: {
      bool previous = false;
      for (const auto& s : spans) {
        if (s.is_match == previous && !out.empty()) {
          out.back().second = s.end;
        } else {
          out.emplace_back(s.begin, s.end);
        }
        previous = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous = false;
      for (const auto& s : spans) {
        if (s.is_match && !previous && !out.empty()) {
          out.back().second = s.end;
        } else {
          out.emplace_back(s.begin, s.end);
        }
        previous = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous && !out.empty()) {
          out.back().first = it->begin;
        } else {
          out.emplace_back(it->begin, it->end);
        }
        previous = it->is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
  }
  return out;
}

// Each character for which `pred` holds is its own match (HF's Fn(char) -> bool pattern).
std::vector<MatchSpan> CharSpans(absl::string_view text, const std::function<bool(char32_t)>& pred) {
  std::vector<MatchSpan> spans;
  if (text.empty()) {
    spans.push_back({0, 0, false});
    return spans;
  }
  size_t last = 0;
  for (size_t pos = 0; pos < text.size();) {
    int len = 0;
    const char32_t cp = DecodeUtf8(text, pos, &len);
    if (pred(cp)) {
      if (last < pos) spans.push_back({last, pos, false});
      spans.push_back({pos, pos + len, true});
      last = pos + len;
    }
    pos += len;
  }
  if (last < text.size()) spans.push_back({last, text.size(), false});
  return spans;
}

// Replaces each piece by the sub-ranges `split` returns, dropping empty ones.
void SplitPieces(std::vector<PreToken>* pieces,
                 const std::function<std::vector<std::pair<size_t, size_t>>(const std::string&)>& split) {
  std::vector<PreToken> out;
  out.reserve(pieces->size());
  for (auto& piece : *pieces) {
    for (const auto& [begin, end] : split(piece.text)) {
      if (end <= begin) continue;
      out.push_back({piece.text.substr(begin, end - begin), piece.at_origin && begin == 0});
    }
  }
  *pieces = std::move(out);
}

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::unique_ptr<Regex> regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(regex)) {}
  void PreTokenize(std::vector<PreToken>* pieces) const override {
    if (add_prefix_space_) {
      for (auto& piece : *pieces) {
        if (!piece.text.empty() && piece.text[0] != ' ') piece.text.insert(0, " ");
      }
    }
    if (regex_ != nullptr) {
      SplitPieces(pieces, [&](const std::string& text) {
        return ApplyBehavior(MatchesToSpans(regex_->FindAll(text), text.size()), SplitBehavior::kIsolated,
                             false);
      });
    }
    for (auto& piece : *pieces) piece.text = BytesToUnicode(piece.text);
  }
  bool is_byte_level() const override { return true; }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;  // Null when use_regex is false.
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<Regex> regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}
  void PreTokenize(std::vector<PreToken>* pieces) const override {
    SplitPieces(pieces, [&](const std::string& text) {
      return ApplyBehavior(MatchesToSpans(regex_->FindAll(text), text.size()), behavior_, invert_);
    });
  }

 private:
  std::unique_ptr<Regex> regex_;
  SplitBehavior behavior_;
  bool invert_;
};

// Splits on characters of a class (Digits, Punctuation, WhitespaceSplit).
class CharClassPreTokenizer : public PreTokenizer {
 public:
  CharClassPreTokenizer(std::function<bool(char32_t)> pred, SplitBehavior behavior)
      : pred_(std::move(pred)), behavior_(behavior) {}
  void PreTokenize(std::vector<PreToken>* pieces) const override {
    SplitPieces(pieces, [&](const std::string& text) {
      return ApplyBehavior(CharSpans(text, pred_), behavior_, false);
    });
  }

 private:
  std::function<bool(char32_t)> pred_;
  SplitBehavior behavior_;
};

enum class PrependScheme { kFirst, kAlways, kNever };

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void PreTokenize(std::vector<PreToken>* pieces) const override {
    int len = 0;
    const char32_t rep_cp = DecodeUtf8(replacement_, 0, &len);
    for (auto& piece : *pieces) {
      std::string replaced;
      replaced.reserve(piece.text.size() + replacement_.size());
      for (char c : piece.text) {
        if (c == ' ') {
          replaced += replacement_;
        } else {
          replaced.push_back(c);
        }
      }
      const bool starts_with = replaced.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts_with &&
          (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && piece.at_origin))) {
        replaced.insert(0, replacement_);
      }
      piece.text = std::move(replaced);
    }
    if (split_) {
      SplitPieces(pieces, [&](const std::string& text) {
        return ApplyBehavior(CharSpans(text, [rep_cp](char32_t c) { return c == rep_cp; }),
                             SplitBehavior::kMergedWithNext, false);
      });
    }
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void PreTokenize(std::vector<PreToken>* pieces) const override {
    for (const auto& part : parts_) part->PreTokenize(pieces);
  }
  bool is_byte_level() const override {
    for (const auto& part : parts_) {
      if (part->is_byte_level()) return true;
    }
    return false;
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const Json& json, const std::string& path) {
  if (!json.is_object()) return JsonError(path, "expected an object");
  ASSIGN_OR_RETURN(std::string type, GetString(json, "type", path));
  if (type == "ByteLevel") {
    ASSIGN_OR_RETURN(bool add_prefix_space, GetBool(json, "add_prefix_space", true, path));
    ASSIGN_OR_RETURN(bool use_regex, GetBool(json, "use_regex", true, path));
    std::unique_ptr<Regex> regex;
    if (use_regex) {
      ASSIGN_OR_RETURN(regex, Regex::Create(kGpt2SplitRegex));
    }
    return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, std::move(regex));
  }
  if (type == "Split") {
    auto it = json.find("pattern");
    if (it == json.end()) return JsonError(JoinPath(path, "pattern"), "missing");
    ASSIGN_OR_RETURN(auto regex, ParsePattern(*it, JoinPath(path, "pattern")));
    ASSIGN_OR_RETURN(SplitBehavior behavior, ParseBehavior(json, path));
    ASSIGN_OR_RETURN(bool invert, GetBool(json, "invert", false, path));
    return std::make_unique<SplitPreTokenizer>(std::move(regex), behavior, invert);
  }
  if (type == "Metaspace") {
    ASSIGN_OR_RETURN(std::string replacement, GetString(json, "replacement", path));
    if (replacement.empty()) return JsonError(JoinPath(path, "replacement"), "must not be empty");
    PrependScheme scheme = PrependScheme::kAlways;
    ASSIGN_OR_RETURN(auto scheme_name, GetOptionalString(json, "prepend_scheme", path));
    if (scheme_name.has_value()) {
      if (*scheme_name == "first") {
        scheme = PrependScheme::kFirst;
      } else if (*scheme_name == "always") {
        scheme = PrependScheme::kAlways;
      } else if (*scheme_name == "never") {
        scheme = PrependScheme::kNever;
      } else {
        return JsonError(JoinPath(path, "prepend_scheme"),
                         absl::StrCat("unknown scheme \"", *scheme_name, "\""));
      }
    } else {
      ASSIGN_OR_RETURN(bool add_prefix_space, GetBool(json, "add_prefix_space", true, path));
      scheme = add_prefix_space ? PrependScheme::kAlways : PrependScheme::kNever;
    }
    ASSIGN_OR_RETURN(bool split, GetBool(json, "split", true, path));
    return std::make_unique<MetaspacePreTokenizer>(std::move(replacement), scheme, split);
  }
  if (type == "Digits") {
    ASSIGN_OR_RETURN(bool individual, GetBool(json, "individual_digits", false, path));
    return std::make_unique<CharClassPreTokenizer>(
        IsNumeric, individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
  }
  if (type == "Punctuation") {
    SplitBehavior behavior = SplitBehavior::kIsolated;
    if (json.contains("behavior")) {
      ASSIGN_OR_RETURN(behavior, ParseBehavior(json, path));
    }
    return std::make_unique<CharClassPreTokenizer>(IsPunctuation, behavior);
  }
  if (type == "WhitespaceSplit") {
    return std::make_unique<CharClassPreTokenizer>(IsWhitespace, SplitBehavior::kRemoved);
  }
  if (type == "Whitespace") {
    ASSIGN_OR_RETURN(auto regex, Regex::Create(R"(\w+|[^\w\s]+)"));
    return std::make_unique<SplitPreTokenizer>(std::move(regex), SplitBehavior::kRemoved, true);
  }
  if (type == "Sequence") {
    ASSIGN_OR_RETURN(const Json* list, GetArray(json, "pretokenizers", path));
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < list->size(); ++i) {
      ASSIGN_OR_RETURN(auto part,
                       ParsePreTokenizer((*list)[i], IndexPath(JoinPath(path, "pretokenizers"), i)));
      parts.push_back(std::move(part));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  return JsonError(JoinPath(path, "type"), absl::StrCat("unsupported pre-tokenizer \"", type, "\""));
}

}  // namespace ftd::tok
