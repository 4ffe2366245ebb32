// Normalizer implementations with HF tokenizers' semantics (e.g. Prepend leaves an empty string empty).
#include "model/tokenizer/normalizers.h"

#include <utf8proc.h>

#include <cstdlib>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "model/tokenizer/regex.h"
#include "model/tokenizer/unicode_util.h"

namespace ftd::tok {
namespace {

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(options) {}
  std::string Normalize(absl::string_view text) const override {
    if (text.empty()) return std::string();
    utf8proc_uint8_t* out = nullptr;
    const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                static_cast<utf8proc_ssize_t>(text.size()), &out,
                                static_cast<utf8proc_option_t>(options_));
    if (n < 0) return std::string(text);  // Not reachable for valid UTF-8 input.
    std::string result(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    std::free(out);
    return result;
  }

 private:
  int options_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  std::string Normalize(absl::string_view text) const override {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
      int len = 0;
      AppendUtf8(ToLower(DecodeUtf8(text, pos, &len)), &out);
      pos += len;
    }
    return out;
  }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  std::string Normalize(absl::string_view text) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        int len = 0;
        if (!IsWhitespace(DecodeUtf8(text, begin, &len))) break;
        begin += len;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        int len = 0;
        if (!IsWhitespace(DecodeUtf8(text, start, &len))) break;
        end = start;
      }
    }
    return std::string(text.substr(begin, end - begin));
  }

 private:
  bool left_, right_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string Normalize(absl::string_view text) const override {
    if (text.empty()) return std::string();
    return prefix_ + std::string(text);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(std::unique_ptr<Regex> regex, std::string content)
      : regex_(std::move(regex)), content_(std::move(content)) {}
  std::string Normalize(absl::string_view text) const override {
    std::string out;
    size_t prev = 0;
    for (const auto& [begin, end] : regex_->FindAll(text)) {
      absl::StrAppend(&out, text.substr(prev, begin - prev));
      out += content_;
      prev = end;
    }
    absl::StrAppend(&out, text.substr(prev));
    return out;
  }

 private:
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  std::string Normalize(absl::string_view text) const override {
    std::string current(text);
    for (const auto& part : parts_) current = part->Normalize(current);
    return current;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

// A {"String": s} or {"Regex": r} pattern object as a compiled regex.
absl::StatusOr<std::unique_ptr<Regex>> ParsePattern(const Json& json, const std::string& path) {
  if (json.is_object()) {
    if (auto it = json.find("String"); it != json.end() && it->is_string()) {
      auto regex = Regex::Create(QuoteRegex(it->get<std::string>()));
      if (!regex.ok()) return Annotate(regex.status(), path);
      return regex;
    }
    if (auto it = json.find("Regex"); it != json.end() && it->is_string()) {
      auto regex = Regex::Create(it->get<std::string>());
      if (!regex.ok()) return Annotate(regex.status(), path);
      return regex;
    }
  }
  return JsonError(path, "expected {\"String\": ...} or {\"Regex\": ...}");
}

absl::StatusOr<std::unique_ptr<Normalizer>> ParseNormalizer(const Json& json, const std::string& path) {
  if (!json.is_object()) return JsonError(path, "expected an object");
  ASSIGN_OR_RETURN(std::string type, GetString(json, "type", path));
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
  if (type == "NFKC") {
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  }
  if (type == "NFKD") {
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  }
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip") {
    ASSIGN_OR_RETURN(bool left, GetBool(json, "strip_left", true, path));
    ASSIGN_OR_RETURN(bool right, GetBool(json, "strip_right", true, path));
    return std::make_unique<StripNormalizer>(left, right);
  }
  if (type == "Prepend") {
    ASSIGN_OR_RETURN(std::string prefix, GetString(json, "prepend", path));
    return std::make_unique<PrependNormalizer>(std::move(prefix));
  }
  if (type == "Replace") {
    auto it = json.find("pattern");
    if (it == json.end()) return JsonError(JoinPath(path, "pattern"), "missing");
    ASSIGN_OR_RETURN(auto regex, ParsePattern(*it, JoinPath(path, "pattern")));
    ASSIGN_OR_RETURN(std::string content, GetString(json, "content", path));
    return std::make_unique<ReplaceNormalizer>(std::move(regex), std::move(content));
  }
  if (type == "Sequence") {
    ASSIGN_OR_RETURN(const Json* list, GetArray(json, "normalizers", path));
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < list->size(); ++i) {
      ASSIGN_OR_RETURN(auto part, ParseNormalizer((*list)[i], IndexPath(JoinPath(path, "normalizers"), i)));
      parts.push_back(std::move(part));
    }
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  return JsonError(JoinPath(path, "type"), absl::StrCat("unsupported normalizer \"", type, "\""));
}

}  // namespace ftd::tok
