// Decoder implementations with HF tokenizers' semantics (invalid UTF-8 becomes U+FFFD as Rust's lossy
// conversion does; ByteFallback turns each byte of an invalid run into its own U+FFFD).
#include "model/tokenizer/decoders.h"

#include <utility>

#include "common/status_macros.h"
#include "model/tokenizer/byte_level.h"
#include "model/tokenizer/normalizers.h"
#include "model/tokenizer/regex.h"
#include "model/tokenizer/unicode_util.h"

namespace ftd::tok {
namespace {

constexpr char kReplacementChar[] = "\xEF\xBF\xBD";

class ByteLevelDecoder : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::string bytes;
    for (const auto& token : *tokens) {
      auto decoded = UnicodeToBytes(token);
      bytes += decoded.has_value() ? *decoded : token;
    }
    tokens->assign(1, Utf8Lossy(bytes));
  }
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(std::unique_ptr<Regex> regex, std::string content)
      : regex_(std::move(regex)), content_(std::move(content)) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (auto& token : *tokens) {
      std::string out;
      size_t prev = 0;
      for (const auto& [begin, end] : regex_->FindAll(token)) {
        out.append(token, prev, begin - prev);
        out += content_;
        prev = end;
      }
      out.append(token, prev, std::string::npos);
      token = std::move(out);
    }
  }

 private:
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

class ByteFallbackDecoder : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    const auto flush = [&] {
      if (pending.empty()) return;
      if (IsValidUtf8(pending)) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending.size(); ++i) out.push_back(kReplacementChar);
      }
      pending.clear();
    };
    for (auto& token : *tokens) {
      if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>') {
        int value = 0;
        bool ok = true;
        for (int i = 3; i < 5; ++i) {
          const char c = token[i];
          value *= 16;
          if (c >= '0' && c <= '9')
            value += c - '0';
          else if (c >= 'a' && c <= 'f')
            value += c - 'a' + 10;
          else if (c >= 'A' && c <= 'F')
            value += c - 'A' + 10;
          else
            ok = false;
        }
        if (ok) {
          pending.push_back(static_cast<char>(value));
          continue;
        }
      }
      flush();
      out.push_back(std::move(token));
    }
    flush();
    *tokens = std::move(out);
  }
};

class FuseDecoder : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::string joined;
    for (const auto& token : *tokens) joined += token;
    tokens->assign(1, std::move(joined));
  }
};

// Splits a string into its UTF-8 characters.
std::vector<std::string> Chars(const std::string& s) {
  std::vector<std::string> chars;
  for (size_t pos = 0; pos < s.size();) {
    int len = 0;
    DecodeUtf8(s, pos, &len);
    chars.push_back(s.substr(pos, len));
    pos += len;
  }
  return chars;
}

class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    const size_t n = content_.size();
    for (auto& token : *tokens) {
      // Up to start_ leading and stop_ trailing copies of the content character.
      size_t begin = 0, end = token.size();
      for (size_t i = 0; i < start_ && end - begin >= n && token.compare(begin, n, content_) == 0; ++i)
        begin += n;
      for (size_t i = 0; i < stop_ && end - begin >= n && token.compare(end - n, n, content_) == 0; ++i)
        end -= n;
      token = token.substr(begin, end - begin);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (size_t i = 0; i < tokens->size(); ++i) {
      std::string out;
      for (const std::string& c : Chars((*tokens)[i])) {
        if (c == replacement_) {
          if (!(i == 0 && strip_first_)) out.push_back(' ');
        } else {
          out += c;
        }
      }
      (*tokens)[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (const auto& part : parts_) part->DecodeChain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> ParseDecoder(const Json& json, const std::string& path) {
  if (!json.is_object()) return JsonError(path, "expected an object");
  ASSIGN_OR_RETURN(std::string type, GetString(json, "type", path));
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Replace") {
    auto it = json.find("pattern");
    if (it == json.end()) return JsonError(JoinPath(path, "pattern"), "missing");
    ASSIGN_OR_RETURN(auto regex, ParsePattern(*it, JoinPath(path, "pattern")));
    ASSIGN_OR_RETURN(std::string content, GetString(json, "content", path));
    return std::make_unique<ReplaceDecoder>(std::move(regex), std::move(content));
  }
  if (type == "Strip") {
    ASSIGN_OR_RETURN(std::string content, GetString(json, "content", path));
    ASSIGN_OR_RETURN(int64_t start, GetInt(json, "start", 0, path));
    ASSIGN_OR_RETURN(int64_t stop, GetInt(json, "stop", 0, path));
    if (start < 0 || stop < 0) return JsonError(path, "start and stop must be non-negative");
    return std::make_unique<StripDecoder>(std::move(content), static_cast<size_t>(start),
                                          static_cast<size_t>(stop));
  }
  if (type == "Metaspace") {
    ASSIGN_OR_RETURN(std::string replacement, GetString(json, "replacement", path));
    bool strip_first = true;
    ASSIGN_OR_RETURN(auto scheme, GetOptionalString(json, "prepend_scheme", path));
    if (scheme.has_value()) {
      strip_first = *scheme != "never";
    } else {
      ASSIGN_OR_RETURN(strip_first, GetBool(json, "add_prefix_space", true, path));
    }
    return std::make_unique<MetaspaceDecoder>(std::move(replacement), strip_first);
  }
  if (type == "Sequence") {
    ASSIGN_OR_RETURN(const Json* list, GetArray(json, "decoders", path));
    std::vector<std::unique_ptr<Decoder>> parts;
    for (size_t i = 0; i < list->size(); ++i) {
      ASSIGN_OR_RETURN(auto part, ParseDecoder((*list)[i], IndexPath(JoinPath(path, "decoders"), i)));
      parts.push_back(std::move(part));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  return JsonError(JoinPath(path, "type"), absl::StrCat("unsupported decoder \"", type, "\""));
}

}  // namespace ftd::tok
