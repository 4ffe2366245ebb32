// Pre-tokenizers from tokenizer.json's "pre_tokenizer" (ByteLevel, Split, Metaspace, Digits, Punctuation,
// Whitespace, WhitespaceSplit, Sequence): cut normalized text into the words the BPE model sees.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/tokenizer/json_util.h"

namespace ftd::tok {

// A word being pre-tokenized. at_origin: it starts at offset 0 of the original input (Metaspace's
// prepend_scheme "first" prepends only there).
struct PreToken {
  std::string text;
  bool at_origin;
};

// Immutable; thread-safe.
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their pre-tokenized words; empty words are dropped.
  virtual void PreTokenize(std::vector<PreToken>* pieces) const = 0;
  // True when this (or a part of it) is a ByteLevel pre-tokenizer.
  virtual bool is_byte_level() const { return false; }
};

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const Json& json, const std::string& path);

}  // namespace ftd::tok
