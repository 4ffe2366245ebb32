// Post-processor implementations; all reduce to "prefix ids, the sequence, suffix ids" for one sequence.
#include "model/tokenizer/post_processors.h"

#include <utility>

#include "common/status_macros.h"

namespace ftd::tok {
namespace {

class AffixProcessor : public PostProcessor {
 public:
  AffixProcessor(std::vector<int32_t> prefix, std::vector<int32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void AddSpecialTokens(std::vector<int32_t>* ids) const override {
    ids->insert(ids->begin(), prefix_.begin(), prefix_.end());
    ids->insert(ids->end(), suffix_.begin(), suffix_.end());
  }

 private:
  std::vector<int32_t> prefix_;
  std::vector<int32_t> suffix_;
};

class SequenceProcessor : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void AddSpecialTokens(std::vector<int32_t>* ids) const override {
    for (const auto& part : parts_) part->AddSpecialTokens(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

absl::StatusOr<std::unique_ptr<PostProcessor>> ParseTemplate(const Json& json, const std::string& path) {
  ASSIGN_OR_RETURN(const Json* single, GetArray(json, "single", path));
  const Json empty = Json::object();
  auto specials_it = json.find("special_tokens");
  const Json& specials = (specials_it != json.end() && specials_it->is_object()) ? *specials_it : empty;
  std::vector<int32_t> prefix, suffix;
  bool seen_sequence = false;
  for (size_t i = 0; i < single->size(); ++i) {
    const std::string item_path = IndexPath(JoinPath(path, "single"), i);
    const Json& item = (*single)[i];
    if (!item.is_object()) return JsonError(item_path, "expected an object");
    if (item.contains("Sequence")) {
      if (seen_sequence) return JsonError(item_path, "a single template holds one sequence");
      seen_sequence = true;
      continue;
    }
    auto special = item.find("SpecialToken");
    if (special == item.end() || !special->is_object()) {
      return JsonError(item_path, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
    ASSIGN_OR_RETURN(std::string name, GetString(*special, "id", JoinPath(item_path, "SpecialToken")));
    auto entry = specials.find(name);
    if (entry == specials.end() || !entry->is_object()) {
      return JsonError(JoinPath(path, "special_tokens"), absl::StrCat("no entry for \"", name, "\""));
    }
    const std::string entry_path = JoinPath(JoinPath(path, "special_tokens"), name);
    ASSIGN_OR_RETURN(const Json* ids, GetArray(*entry, "ids", entry_path));
    for (const Json& id : *ids) {
      if (!id.is_number_integer()) return JsonError(JoinPath(entry_path, "ids"), "expected integers");
      (seen_sequence ? suffix : prefix).push_back(id.get<int32_t>());
    }
  }
  return std::make_unique<AffixProcessor>(std::move(prefix), std::move(suffix));
}

// ["<s>", 0] as an id.
absl::StatusOr<int32_t> ParseTokenPair(const Json& json, const char* key, const std::string& path) {
  auto it = json.find(key);
  if (it == json.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer()) {
    return JsonError(JoinPath(path, key), "expected [token, id]");
  }
  return (*it)[1].get<int32_t>();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostProcessor>> ParsePostProcessor(const Json& json, const std::string& path) {
  if (!json.is_object()) return JsonError(path, "expected an object");
  ASSIGN_OR_RETURN(std::string type, GetString(json, "type", path));
  if (type == "ByteLevel")
    return std::make_unique<AffixProcessor>(std::vector<int32_t>(), std::vector<int32_t>());
  if (type == "TemplateProcessing") return ParseTemplate(json, path);
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    ASSIGN_OR_RETURN(int32_t cls, ParseTokenPair(json, "cls", path));
    ASSIGN_OR_RETURN(int32_t sep, ParseTokenPair(json, "sep", path));
    return std::make_unique<AffixProcessor>(std::vector<int32_t>{cls}, std::vector<int32_t>{sep});
  }
  if (type == "Sequence") {
    ASSIGN_OR_RETURN(const Json* list, GetArray(json, "processors", path));
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (size_t i = 0; i < list->size(); ++i) {
      ASSIGN_OR_RETURN(auto part, ParsePostProcessor((*list)[i], IndexPath(JoinPath(path, "processors"), i)));
      parts.push_back(std::move(part));
    }
    return std::make_unique<SequenceProcessor>(std::move(parts));
  }
  return JsonError(JoinPath(path, "type"), absl::StrCat("unsupported post-processor \"", type, "\""));
}

}  // namespace ftd::tok
