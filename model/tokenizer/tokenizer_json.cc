// Tokenizer::FromJson/FromFile/FromDir: reads tokenizer.json into a BpeTokenizer; the one place nlohmann
// exceptions are caught for the tokenizer.
#include <utility>

#include "common/status_macros.h"
#include "model/file_io.h"
#include "model/tokenizer/bpe_tokenizer.h"
#include "model/tokenizer/json_util.h"
#include "model/tokenizer/tokenizer.h"

namespace ftd {
namespace {

using tok::Json;
using tok::JsonError;

// The model type; legacy files omit "type" and are recognised by their fields, as HF's untagged fallback
// does.
absl::StatusOr<std::string> ModelType(const Json& model) {
  if (auto it = model.find("type"); it != model.end()) {
    if (!it->is_string()) return JsonError("model.type", "expected a string");
    return it->get<std::string>();
  }
  if (model.contains("merges")) return std::string("BPE");
  if (auto it = model.find("vocab"); it != model.end() && it->is_array()) return std::string("Unigram");
  if (model.contains("max_input_chars_per_word")) return std::string("WordPiece");
  return std::string("WordLevel");
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Build(const Json& root) {
  if (!root.is_object()) return JsonError("tokenizer.json", "expected an object");
  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) return JsonError("model", "missing or not an object");
  ASSIGN_OR_RETURN(std::string type, ModelType(*model_it));
  if (type != "BPE") {
    return JsonError("model.type", absl::StrCat("unsupported tokenizer model \"", type, "\""));
  }
  tok::TokenizerParts parts;
  ASSIGN_OR_RETURN(parts.model, tok::BpeModel::FromJson(*model_it, "model"));
  if (auto it = root.find("normalizer"); it != root.end() && !it->is_null()) {
    ASSIGN_OR_RETURN(parts.normalizer, tok::ParseNormalizer(*it, "normalizer"));
  }
  if (auto it = root.find("pre_tokenizer"); it != root.end() && !it->is_null()) {
    ASSIGN_OR_RETURN(parts.pre_tokenizer, tok::ParsePreTokenizer(*it, "pre_tokenizer"));
    parts.byte_level = parts.pre_tokenizer->is_byte_level();
  }
  if (auto it = root.find("post_processor"); it != root.end() && !it->is_null()) {
    ASSIGN_OR_RETURN(parts.post_processor, tok::ParsePostProcessor(*it, "post_processor"));
  }
  if (auto it = root.find("decoder"); it != root.end() && !it->is_null()) {
    ASSIGN_OR_RETURN(parts.decoder, tok::ParseDecoder(*it, "decoder"));
  }
  auto added_it = root.find("added_tokens");
  ASSIGN_OR_RETURN(parts.added, tok::AddedVocabulary::Create(added_it == root.end() ? nullptr : &*added_it,
                                                             parts.normalizer.get()));
  return std::unique_ptr<Tokenizer>(new tok::BpeTokenizer(std::move(parts)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(absl::string_view json_text) {
  const Json root = Json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError("tokenizer.json: not valid JSON");
  try {
    return Build(root);
  } catch (const Json::exception& e) {
    // Every field is type-checked before use; this only guards against a missed check.
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  auto tokenizer = FromJson(text);
  if (!tokenizer.ok()) return Annotate(tokenizer.status(), path);
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromDir(const std::string& dir) {
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, FromFile(dir + "/tokenizer.json"));
  const std::string config_path = dir + "/tokenizer_config.json";
  absl::StatusOr<std::string> config_text = ReadFileToString(config_path);
  if (config_text.ok()) {
    const std::string& text = *config_text;
    auto config = ParseTokenizerConfig(text);
    if (!config.ok()) return Annotate(config.status(), config_path);
    tokenizer->set_config(*std::move(config));
  } else if (!absl::IsNotFound(config_text.status())) {
    return config_text.status();  // Present but unreadable: say so rather than run without it.
  }
  return tokenizer;
}

}  // namespace ftd
