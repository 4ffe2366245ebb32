// Post-processors from tokenizer.json's "post_processor" (TemplateProcessing, ByteLevel, RobertaProcessing,
// BertProcessing, Sequence): the special tokens a single sequence gets when add_special_tokens is set.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/tokenizer/json_util.h"

namespace ftd::tok {

// Immutable; thread-safe.
class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds the special tokens around a single sequence's ids.
  virtual void AddSpecialTokens(std::vector<int32_t>* ids) const = 0;
};

absl::StatusOr<std::unique_ptr<PostProcessor>> ParsePostProcessor(const Json& json, const std::string& path);

}  // namespace ftd::tok
