// RFC 4180 CSV parsing (see csv.h): a small state machine over the bytes, tracking lines for error messages.
#include "eval/suites/csv.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ftd {

absl::StatusOr<std::vector<CsvRecord>> ParseCsv(absl::string_view text, absl::string_view file_name) {
  std::vector<CsvRecord> records;
  CsvRecord record;
  std::string field;
  int64_t line = 1;
  record.line = 1;
  size_t i = 0;
  const size_t n = text.size();
  auto end_field = [&] {
    record.fields.push_back(std::move(field));
    field.clear();
  };
  auto end_record = [&] {
    end_field();
    records.push_back(std::move(record));
    record = CsvRecord{};
    record.line = line;
  };
  while (i < n) {
    // At the start of a field.
    if (text[i] == '"') {
      const int64_t quote_line = line;
      ++i;
      while (true) {
        if (i >= n) {
          return absl::InvalidArgumentError(absl::StrCat(file_name, ":", quote_line, ": quoted field is never closed"));
        }
        const char c = text[i++];
        if (c == '"') {
          if (i < n && text[i] == '"') {
            field.push_back('"');
            ++i;
            continue;
          }
          break;
        }
        if (c == '\n') ++line;
        field.push_back(c);
      }
      if (i < n && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')) {
        return absl::InvalidArgumentError(
            absl::StrCat(file_name, ":", line, ": unexpected character after a closing quote"));
      }
    } else {
      while (i < n && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')) {
        field.push_back(text[i++]);
      }
    }
    if (i >= n) {
      end_record();
      break;
    }
    if (text[i] == ',') {
      ++i;
      end_field();
      if (i == n) end_record();  // "a," ends with an empty last field.
      continue;
    }
    i += text[i] == '\r' ? 2 : 1;
    ++line;
    end_record();
  }
  return records;
}

}  // namespace ftd
