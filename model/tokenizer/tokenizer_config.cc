// ParseTokenizerConfig: the fields of transformers' tokenizer_config.json that ftd uses (special tokens by
// role, add_bos/eos, chat template, model_max_length).
#include <cmath>
#include <optional>
#include <string>

#include "common/status_macros.h"
#include "model/tokenizer/json_util.h"
#include "model/tokenizer/tokenizer.h"

namespace ftd {
namespace {

using tok::Json;
using tok::JsonError;

// A special token given as "text", as {"content": "text", ...} (AddedToken form) or null.
absl::StatusOr<std::optional<std::string>> SpecialToken(const Json& root, const char* key) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
  if (it->is_object()) {
    ASSIGN_OR_RETURN(std::string content, tok::GetString(*it, "content", key));
    return std::optional<std::string>(std::move(content));
  }
  return JsonError(key, "expected a string or an object with \"content\"");
}

absl::StatusOr<std::optional<bool>> OptionalBool(const Json& root, const char* key) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return JsonError(key, "expected a boolean");
  return std::optional<bool>(it->get<bool>());
}

absl::StatusOr<TokenizerConfig> Parse(const Json& root) {
  if (!root.is_object()) return JsonError("tokenizer_config.json", "expected an object");
  TokenizerConfig config;
  ASSIGN_OR_RETURN(config.bos_token, SpecialToken(root, "bos_token"));
  ASSIGN_OR_RETURN(config.eos_token, SpecialToken(root, "eos_token"));
  ASSIGN_OR_RETURN(config.pad_token, SpecialToken(root, "pad_token"));
  ASSIGN_OR_RETURN(config.unk_token, SpecialToken(root, "unk_token"));
  ASSIGN_OR_RETURN(config.add_bos_token, OptionalBool(root, "add_bos_token"));
  ASSIGN_OR_RETURN(config.add_eos_token, OptionalBool(root, "add_eos_token"));
  if (auto it = root.find("chat_template"); it != root.end() && !it->is_null()) {
    if (it->is_string()) {
      config.chat_template = it->get<std::string>();
    } else if (it->is_array()) {
      // Named templates: [{"name": "default", "template": "..."}, {"name": "tool_use", ...}].
      for (size_t i = 0; i < it->size(); ++i) {
        const Json& entry = (*it)[i];
        const std::string path = tok::IndexPath("chat_template", i);
        if (!entry.is_object()) return JsonError(path, "expected {\"name\", \"template\"}");
        ASSIGN_OR_RETURN(std::string name, tok::GetString(entry, "name", path));
        ASSIGN_OR_RETURN(std::string text, tok::GetString(entry, "template", path));
        if (name == "default") config.chat_template = std::move(text);
      }
    } else {
      return JsonError("chat_template", "expected a string or a list of {name, template}");
    }
  }
  if (auto it = root.find("model_max_length"); it != root.end() && !it->is_null()) {
    if (!it->is_number()) return JsonError("model_max_length", "expected a number");
    const double value = it->get<double>();
    // transformers writes int(1e30) (VERY_LARGE_INTEGER) for "no limit".
    if (value > 0 && value < 1e18) config.model_max_length = static_cast<int64_t>(value);
  }
  return config;
}

}  // namespace

absl::StatusOr<TokenizerConfig> ParseTokenizerConfig(absl::string_view json_text) {
  const Json root = Json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError("tokenizer_config.json: not valid JSON");
  try {
    return Parse(root);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer_config.json: ", e.what()));
  }
}

}  // namespace ftd
