// Decoders from tokenizer.json's "decoder" (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace,
// Sequence): token strings -> text, chained the way HF's Decoder::decode_chain is.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/tokenizer/json_util.h"

namespace ftd::tok {

// Immutable; thread-safe.
class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token strings; the caller concatenates the final list.
  virtual void DecodeChain(std::vector<std::string>* tokens) const = 0;
};

absl::StatusOr<std::unique_ptr<Decoder>> ParseDecoder(const Json& json, const std::string& path);

}  // namespace ftd::tok
