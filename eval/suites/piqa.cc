// PIQA documents and lm-eval's prompt (see piqa.h).
#include "eval/suites/piqa.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/text_file.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

absl::Status LineError(absl::string_view file_name, int64_t line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file_name, ":", line, ": ", what));
}

// Lines of a file, without the final line break and without CRs.
std::vector<absl::string_view> Lines(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (absl::string_view& l : lines) l = absl::StripSuffix(l, "\r");
  return lines;
}

}  // namespace

MultipleChoiceItem PiqaItem(const PiqaDoc& doc) {
  return {absl::StrCat("Question: ", doc.goal, "\nAnswer:"), {doc.sol1, doc.sol2}, doc.label};
}

absl::StatusOr<std::vector<PiqaDoc>> ParsePiqa(absl::string_view jsonl, absl::string_view labels,
                                               absl::string_view jsonl_name, absl::string_view labels_name) {
  const std::vector<absl::string_view> doc_lines = Lines(jsonl), label_lines = Lines(labels);
  if (doc_lines.size() != label_lines.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(jsonl_name, " has ", doc_lines.size(), " lines but ", labels_name, " has ", label_lines.size()));
  }
  std::vector<PiqaDoc> docs;
  docs.reserve(doc_lines.size());
  for (size_t i = 0; i < doc_lines.size(); ++i) {
    const int64_t line = static_cast<int64_t>(i) + 1;
    const nlohmann::json j = nlohmann::json::parse(doc_lines[i].begin(), doc_lines[i].end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return LineError(jsonl_name, line, "not a JSON object");
    PiqaDoc doc;
    for (auto [key, field] :
         {std::pair{"goal", &doc.goal}, std::pair{"sol1", &doc.sol1}, std::pair{"sol2", &doc.sol2}}) {
      if (!j.contains(key) || !j[key].is_string()) {
        return LineError(jsonl_name, line, absl::StrCat("missing string field '", key, "'"));
      }
      *field = j[key].get<std::string>();
    }
    const absl::string_view label = absl::StripAsciiWhitespace(label_lines[i]);
    if (label != "0" && label != "1")
      return LineError(labels_name, line, absl::StrCat("label '", label, "' is not 0 or 1"));
    doc.label = label == "1";
    docs.push_back(std::move(doc));
  }
  return docs;
}

absl::StatusOr<std::vector<MultipleChoiceItem>> LoadPiqa(const std::string& jsonl_path,
                                                         const std::string& labels_path) {
  absl::StatusOr<std::string> jsonl = ReadTextFile(jsonl_path);
  if (!jsonl.ok()) return jsonl.status();
  absl::StatusOr<std::string> labels = ReadTextFile(labels_path);
  if (!labels.ok()) return labels.status();
  absl::StatusOr<std::vector<PiqaDoc>> docs = ParsePiqa(*jsonl, *labels, jsonl_path, labels_path);
  if (!docs.ok()) return docs.status();
  std::vector<MultipleChoiceItem> items;
  items.reserve(docs->size());
  for (const PiqaDoc& doc : *docs) items.push_back(PiqaItem(doc));
  return items;
}

}  // namespace ftd
