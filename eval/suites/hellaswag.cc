// HellaSwag documents and lm-eval's preprocessing (see hellaswag.h).
#include "eval/suites/hellaswag.h"

#include <cctype>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/text_file.h"
#include "eval/suites/python_text.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

absl::Status LineError(absl::string_view file_name, int64_t line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file_name, ":", line, ": ", what));
}

}  // namespace

std::string HellaSwagPreprocess(absl::string_view text) {
  std::string s = absl::StrReplaceAll(PythonStrip(text), {{" [title]", ". "}});
  // re.sub(r"\[.*?\]", "", s): '.' does not match '\n', so a '[' whose ']' lies past a line break does not
  // match at that position and the scan moves on by one character.
  std::string removed;
  removed.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '[') {
      const size_t close = s.find_first_of("]\n", i + 1);
      if (close != std::string::npos && s[close] == ']') {
        i = close + 1;
        continue;
      }
    }
    removed.push_back(s[i++]);
  }
  return absl::StrReplaceAll(removed, {{"  ", " "}});
}

MultipleChoiceItem HellaSwagItem(const HellaSwagDoc& doc) {
  MultipleChoiceItem item;
  item.context =
      HellaSwagPreprocess(absl::StrCat(doc.activity_label, ": ", doc.ctx_a, " ", PythonCapitalize(doc.ctx_b)));
  for (const std::string& ending : doc.endings) item.choices.push_back(HellaSwagPreprocess(ending));
  item.gold = doc.label;
  return item;
}

absl::StatusOr<std::vector<HellaSwagDoc>> ParseHellaSwagJsonl(absl::string_view text, absl::string_view file_name) {
  std::vector<HellaSwagDoc> docs;
  int64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (PythonStrip(line).empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return LineError(file_name, line_number, "not a JSON object");
    HellaSwagDoc doc;
    for (auto [key, field] : {std::pair{"activity_label", &doc.activity_label}, std::pair{"ctx_a", &doc.ctx_a},
                              std::pair{"ctx_b", &doc.ctx_b}}) {
      if (!j.contains(key) || !j[key].is_string()) {
        return LineError(file_name, line_number, absl::StrCat("missing string field '", key, "'"));
      }
      *field = j[key].get<std::string>();
    }
    if (!j.contains("endings") || !j["endings"].is_array() || j["endings"].empty()) {
      return LineError(file_name, line_number, "missing 'endings'");
    }
    for (const nlohmann::json& e : j["endings"]) {
      if (!e.is_string()) return LineError(file_name, line_number, "an ending is not a string");
      doc.endings.push_back(e.get<std::string>());
    }
    const nlohmann::json label = j.contains("label") ? j["label"] : nlohmann::json();
    if (label.is_number_integer()) {
      doc.label = label.get<int>();
    } else if (label.is_string() && label.get<std::string>().size() == 1 && isdigit(label.get<std::string>()[0])) {
      doc.label = label.get<std::string>()[0] - '0';
    } else {
      return LineError(file_name, line_number, "missing or non-integer 'label'");
    }
    if (doc.label < 0 || doc.label >= static_cast<int>(doc.endings.size())) {
      return LineError(file_name, line_number, absl::StrCat("label ", doc.label, " is not an ending's index"));
    }
    docs.push_back(std::move(doc));
  }
  return docs;
}

absl::StatusOr<std::vector<MultipleChoiceItem>> LoadHellaSwagJsonl(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::vector<HellaSwagDoc>> docs = ParseHellaSwagJsonl(*text, path);
  if (!docs.ok()) return docs.status();
  std::vector<MultipleChoiceItem> items;
  items.reserve(docs->size());
  for (const HellaSwagDoc& doc : *docs) items.push_back(HellaSwagItem(doc));
  return items;
}

absl::StatusOr<std::vector<MultipleChoiceItem>> ParseHellaSwagText(absl::string_view text,
                                                                   absl::string_view file_name) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // The final line break.
  if (lines.size() % 6 != 0) {
    return LineError(file_name, static_cast<int64_t>(lines.size()),
                     absl::StrCat(lines.size(), " lines is not a whole number of 6-line items"));
  }
  std::vector<MultipleChoiceItem> items;
  items.reserve(lines.size() / 6);
  for (size_t i = 0; i < lines.size(); i += 6) {
    auto strip_cr = [](absl::string_view s) { return absl::StripSuffix(s, "\r"); };
    const int64_t first_line = static_cast<int64_t>(i) + 1;
    if (!IsValidUtf8(text.substr(lines[i].data() - text.data(), lines[i + 5].end() - lines[i].data()))) {
      return LineError(file_name, first_line, "invalid UTF-8 in this item");
    }
    const absl::string_view gold = strip_cr(lines[i + 1]);
    if (gold.size() != 1 || gold[0] < '0' || gold[0] > '3') {
      return LineError(file_name, first_line + 1, absl::StrCat("gold index '", gold, "' is not 0-3"));
    }
    MultipleChoiceItem item;
    item.context = HellaSwagPreprocess(strip_cr(lines[i]));
    for (int k = 2; k < 6; ++k) item.choices.push_back(HellaSwagPreprocess(strip_cr(lines[i + k])));
    item.gold = gold[0] - '0';
    items.push_back(std::move(item));
  }
  return items;
}

absl::StatusOr<std::vector<MultipleChoiceItem>> LoadHellaSwagText(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  return ParseHellaSwagText(*text, path);
}

}  // namespace ftd
