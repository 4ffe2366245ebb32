// YAML <-> ftd.v1.JobSpec by protobuf reflection: the proto is the one schema, so a field added there is a YAML
// key here without a second table to keep in step. yaml-cpp's exceptions are caught in DecodeJobSpecYaml only.
#include "common/job_spec_yaml.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/job_spec_defaults.h"
#include "common/job_spec_validate.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "yaml-cpp/yaml.h"

namespace ftd {
namespace {

using ::ftd::v1::JobSpec;
using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::EnumValueDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;

// The one lora_target_modules entry that means "every linear layer"; YAML may give it as a bare string.
constexpr absl::string_view kAllLinear = "all-linear";

bool IsLoraTargetModules(const FieldDescriptor* field) {
  return field->containing_type() == JobSpec::descriptor() && field->number() == JobSpec::kLoraTargetModulesFieldNumber;
}

// ---- Key paths and messages -------------------------------------------------------------------------

std::string ChildPath(absl::string_view parent, absl::string_view key) {
  return parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key);
}

std::string IndexPath(absl::string_view parent, size_t index) { return absl::StrCat(parent, "[", index, "]"); }

// The root has no key, so its errors say "job spec".
absl::Status PathError(absl::string_view path, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(path.empty() ? "job spec" : path, ": ", reason));
}

// ---- Strict YAML 1.2 core-schema scalars ------------------------------------------------------------

// Only plain (unquoted, untagged) scalars may be numbers or bools: `lora_r: "8"` is a string, as in YAML.
bool IsPlainScalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() == "?"; }

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

enum class NumberParse { kOk, kNotANumber, kOutOfRange };

// Decimal integers only ([-+]?[0-9]+): no hex/octal, no "1.0", no surrounding spaces.
NumberParse ParseInteger(absl::string_view text, int64_t* value) {
  absl::string_view digits = text;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
  if (!AllDigits(digits)) return NumberParse::kNotANumber;
  // from_chars takes '-' but not '+'.
  absl::string_view body = (text[0] == '+') ? digits : text;
  auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), *value);
  if (ec == std::errc::result_out_of_range) return NumberParse::kOutOfRange;
  return (ec == std::errc() && end == body.data() + body.size()) ? NumberParse::kOk : NumberParse::kNotANumber;
}

// YAML 1.2 core floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, and .inf/.nan spelled as YAML does.
NumberParse ParseDouble(absl::string_view text, double* value) {
  absl::string_view rest = text;
  bool negative = false;
  if (!rest.empty() && (rest[0] == '-' || rest[0] == '+')) {
    negative = rest[0] == '-';
    rest.remove_prefix(1);
  }
  if (rest == ".inf" || rest == ".Inf" || rest == ".INF") {
    *value = negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return NumberParse::kOk;
  }
  if (text == ".nan" || text == ".NaN" || text == ".NAN") {
    *value = std::numeric_limits<double>::quiet_NaN();
    return NumberParse::kOk;
  }
  absl::string_view mantissa = rest;
  absl::string_view exponent;
  if (size_t e = rest.find_first_of("eE"); e != absl::string_view::npos) {
    mantissa = rest.substr(0, e);
    exponent = rest.substr(e + 1);
    if (!exponent.empty() && (exponent[0] == '-' || exponent[0] == '+')) exponent.remove_prefix(1);
    if (!AllDigits(exponent)) return NumberParse::kNotANumber;
  }
  size_t dot = mantissa.find('.');
  absl::string_view int_part = mantissa.substr(0, dot);
  absl::string_view frac_part = dot == absl::string_view::npos ? absl::string_view() : mantissa.substr(dot + 1);
  bool ok = dot == absl::string_view::npos
                ? AllDigits(int_part)
                : (int_part.empty() ? AllDigits(frac_part)
                                    : AllDigits(int_part) && (frac_part.empty() || AllDigits(frac_part)));
  if (!ok) return NumberParse::kNotANumber;
  absl::string_view body = (text[0] == '+') ? rest : text;
  auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), *value);
  if (ec == std::errc::result_out_of_range) return NumberParse::kOutOfRange;
  return (ec == std::errc() && end == body.data() + body.size()) ? NumberParse::kOk : NumberParse::kNotANumber;
}

// What a node holds, for "got ..." in messages: numbers and bools bare, other text quoted, structures by kind.
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar: {
      int64_t i;
      double d;
      const std::string& text = node.Scalar();
      if (IsPlainScalar(node) &&
          (text == "true" || text == "false" || ParseInteger(text, &i) != NumberParse::kNotANumber ||
           ParseDouble(text, &d) != NumberParse::kNotANumber)) {
        return text;
      }
      return absl::StrCat("\"", absl::CHexEscape(text), "\"");
    }
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// ---- Enums: `qlora` <-> METHOD_QLORA -----------------------------------------------------------------

// The value names' common prefix ("METHOD_"), taken from the UNSPECIFIED value that every ftd enum starts with.
std::string EnumPrefix(const EnumDescriptor* type) {
  const EnumValueDescriptor* zero = type->FindValueByNumber(0);
  if (zero != nullptr && absl::EndsWith(zero->name(), "UNSPECIFIED")) {
    return std::string(absl::StripSuffix(zero->name(), "UNSPECIFIED"));
  }
  return "";
}

bool IsUnspecified(const EnumValueDescriptor* value) {
  return value->number() == 0 && absl::EndsWith(value->name(), "UNSPECIFIED");
}

std::string EnumYamlName(const EnumValueDescriptor* value) {
  std::string prefix = EnumPrefix(value->type());
  return absl::AsciiStrToLower(absl::StripPrefix(value->name(), prefix));
}

std::string EnumChoices(const EnumDescriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    if (!IsUnspecified(type->value(i))) names.push_back(EnumYamlName(type->value(i)));
  }
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<int> ParseEnum(const YAML::Node& node, absl::string_view path, const EnumDescriptor* type) {
  if (!node.IsScalar()) {
    return PathError(path, absl::StrCat("expected one of ", EnumChoices(type), ", got ", Describe(node)));
  }
  std::string wanted = absl::AsciiStrToLower(node.Scalar());
  for (char& c : wanted) {
    if (c == '-') c = '_';
  }
  for (int i = 0; i < type->value_count(); ++i) {
    const EnumValueDescriptor* value = type->value(i);
    if (!IsUnspecified(value) && EnumYamlName(value) == wanted) return value->number();
  }
  return PathError(path, absl::StrCat("unknown value \"", absl::CHexEscape(node.Scalar()), "\" (expected one of ",
                                      EnumChoices(type), ")"));
}

// ---- Unknown keys: suggest the nearest field name ----------------------------------------------------

// Optimal-string-alignment distance: Levenshtein plus adjacent transpositions, the commonest typo ("ratoi").
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// " (did you mean lora_r?)" when one field name is within a typo or two of `key` (a third of its length, 1..3).
std::string Suggestion(absl::string_view key, const Descriptor* type) {
  size_t limit = std::clamp<size_t>(key.size() / 3, 1, 3);
  const FieldDescriptor* best = nullptr;
  size_t best_distance = limit + 1;
  for (int i = 0; i < type->field_count(); ++i) {
    size_t d = EditDistance(key, type->field(i)->name());
    if (d < best_distance) {
      best = type->field(i);
      best_distance = d;
    }
  }
  return best == nullptr ? "" : absl::StrCat(" (did you mean ", best->name(), "?)");
}

// ---- Decoding ----------------------------------------------------------------------------------------

absl::Status DecodeMessage(const YAML::Node& node, absl::string_view path, Message* message);

// Decodes one value into `field` of `message`: sets it, or appends to it when the field is repeated.
absl::Status DecodeValue(const YAML::Node& node, absl::string_view path, const FieldDescriptor* field,
                         Message* message) {
  const Reflection* reflection = message->GetReflection();
  const bool repeated = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      if (!node.IsMap()) return PathError(path, absl::StrCat("expected a map, got ", Describe(node)));
      Message* child = repeated ? reflection->AddMessage(message, field) : reflection->MutableMessage(message, field);
      return DecodeMessage(node, path, child);
    }
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: {
      int64_t value = 0;
      NumberParse parsed = IsPlainScalar(node) ? ParseInteger(node.Scalar(), &value) : NumberParse::kNotANumber;
      if (parsed == NumberParse::kNotANumber) {
        return PathError(path, absl::StrCat("expected an integer, got ", Describe(node)));
      }
      int64_t lo = std::numeric_limits<int64_t>::min();
      int64_t hi = std::numeric_limits<int64_t>::max();
      std::string kind = "64-bit integer";
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
        lo = std::numeric_limits<int32_t>::min();
        hi = std::numeric_limits<int32_t>::max();
        kind = "32-bit integer";
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
        lo = 0;
        hi = std::numeric_limits<uint32_t>::max();
        kind = "unsigned 32-bit integer";
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT64) {
        lo = 0;  // Parsed as int64, so uint64 fields take 0..2^63-1.
        kind = "unsigned 64-bit integer";
      }
      if (parsed == NumberParse::kOutOfRange || value < lo || value > hi) {
        return PathError(path, absl::StrCat("out of range for a ", kind, ", got ", node.Scalar()));
      }
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          repeated ? reflection->AddInt32(message, field, static_cast<int32_t>(value))
                   : reflection->SetInt32(message, field, static_cast<int32_t>(value));
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          repeated ? reflection->AddInt64(message, field, value) : reflection->SetInt64(message, field, value);
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          repeated ? reflection->AddUInt32(message, field, static_cast<uint32_t>(value))
                   : reflection->SetUInt32(message, field, static_cast<uint32_t>(value));
          break;
        default:
          repeated ? reflection->AddUInt64(message, field, static_cast<uint64_t>(value))
                   : reflection->SetUInt64(message, field, static_cast<uint64_t>(value));
          break;
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double value = 0;
      NumberParse parsed = IsPlainScalar(node) ? ParseDouble(node.Scalar(), &value) : NumberParse::kNotANumber;
      if (parsed == NumberParse::kNotANumber) {
        return PathError(path, absl::StrCat("expected a number, got ", Describe(node)));
      }
      const bool is_float = field->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT;
      if (parsed == NumberParse::kOutOfRange ||
          (is_float && std::isfinite(value) && std::fabs(value) > std::numeric_limits<float>::max())) {
        return PathError(path,
                         absl::StrCat("out of range for a ", is_float ? "float" : "double", ", got ", node.Scalar()));
      }
      if (is_float) {
        repeated ? reflection->AddFloat(message, field, static_cast<float>(value))
                 : reflection->SetFloat(message, field, static_cast<float>(value));
      } else {
        repeated ? reflection->AddDouble(message, field, value) : reflection->SetDouble(message, field, value);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      // Only YAML 1.2's true/false: yes/no/on/off are YAML 1.1 and read differently by different tools.
      if (!IsPlainScalar(node) || (node.Scalar() != "true" && node.Scalar() != "false")) {
        return PathError(path, absl::StrCat("expected true or false, got ", Describe(node)));
      }
      const bool value = node.Scalar() == "true";
      repeated ? reflection->AddBool(message, field, value) : reflection->SetBool(message, field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      ASSIGN_OR_RETURN(int value, ParseEnum(node, path, field->enum_type()));
      repeated ? reflection->AddEnumValue(message, field, value) : reflection->SetEnumValue(message, field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      // Any scalar's text: `name: 2024` is the name "2024". Null is not a string.
      if (!node.IsScalar()) return PathError(path, absl::StrCat("expected a string, got ", Describe(node)));
      repeated ? reflection->AddString(message, field, node.Scalar())
               : reflection->SetString(message, field, node.Scalar());
      return absl::OkStatus();
    }
  }
  return absl::InternalError(absl::StrCat(path, ": unsupported field type"));
}

absl::Status DecodeField(const YAML::Node& node, absl::string_view path, const FieldDescriptor* field,
                         Message* message) {
  if (field->is_map()) return absl::UnimplementedError(absl::StrCat(path, ": proto map fields are not supported"));
  if (!field->is_repeated()) return DecodeValue(node, path, field, message);
  if (IsLoraTargetModules(field) && node.IsScalar() && node.Scalar() == kAllLinear) {
    message->GetReflection()->AddString(message, field, std::string(kAllLinear));
    return absl::OkStatus();
  }
  if (!node.IsSequence()) {
    return PathError(path, absl::StrCat(IsLoraTargetModules(field) ? "expected a sequence of module names or "
                                                                     "all-linear, got "
                                                                   : "expected a sequence, got ",
                                        Describe(node)));
  }
  for (size_t i = 0; i < node.size(); ++i) {
    RETURN_IF_ERROR(DecodeValue(node[i], IndexPath(path, i), field, message));
  }
  return absl::OkStatus();
}

// Map entries are visited in document order, so the first error reported is the first in the file.
absl::Status DecodeMessage(const YAML::Node& node, absl::string_view path, Message* message) {
  const Descriptor* type = message->GetDescriptor();
  std::set<std::string> seen;
  for (const auto& entry : node) {
    // Copies: YAML::Node is a handle, and yaml-cpp's iterator hands out pairs in temporaries.
    const YAML::Node key = entry.first;
    const YAML::Node value = entry.second;
    if (!key.IsScalar()) return PathError(path, absl::StrCat("expected a key name, got ", Describe(key)));
    const std::string& name = key.Scalar();
    const std::string key_path = ChildPath(path, name);
    const FieldDescriptor* field = type->FindFieldByName(name);
    if (field == nullptr) return PathError(key_path, absl::StrCat("unknown key", Suggestion(name, type)));
    // yaml-cpp keeps both entries of a repeated key; YAML says keys are unique, and a silent last-wins hides typos.
    if (!seen.insert(name).second) return PathError(key_path, "duplicate key");
    RETURN_IF_ERROR(DecodeField(value, key_path, field, message));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobSpec> DecodeDocuments(const std::vector<YAML::Node>& documents) {
  if (documents.size() > 1) {
    return PathError("", absl::StrCat("expected one YAML document, got ", documents.size()));
  }
  if (documents.empty() || documents[0].IsNull()) return PathError("", "empty document");
  if (!documents[0].IsMap()) {
    return PathError("", absl::StrCat("expected a map of keys at the top level, got ", Describe(documents[0])));
  }
  JobSpec spec;
  RETURN_IF_ERROR(DecodeMessage(documents[0], "", &spec));
  return spec;
}

// ---- Encoding ----------------------------------------------------------------------------------------

// Shortest text that parses back to the same double, with a '.' or exponent so it reads as a float.
std::string FormatDouble(double value) {
  if (std::isnan(value)) return ".nan";
  if (std::isinf(value)) return value > 0 ? ".inf" : "-.inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  FTD_CHECK(ec == std::errc()) << "to_chars failed";
  std::string text(buffer, end);
  if (size_t e = text.find('e'); e != std::string::npos) {
    // to_chars writes 2e-04 and 1e+100; YAML users write 2e-4 and 1e100.
    if (text[e + 1] == '+') text.erase(e + 1, 1);
    const size_t digits = e + 1 + (text[e + 1] == '-' ? 1 : 0);
    while (digits + 1 < text.size() && text[digits] == '0') text.erase(digits, 1);
  } else if (text.find('.') == std::string::npos) {
    text += ".0";
  }
  return text;
}

// True when a plain scalar with this text would be read as something other than this string, by us or by a
// YAML 1.1 reader (yes/no/on/off).
bool NeedsQuotes(const std::string& text) {
  int64_t i;
  double d;
  std::string lower = absl::AsciiStrToLower(text);
  return text.empty() || ParseInteger(text, &i) != NumberParse::kNotANumber ||
         ParseDouble(text, &d) != NumberParse::kNotANumber || lower == "true" || lower == "false" || lower == "yes" ||
         lower == "no" || lower == "on" || lower == "off" || lower == "y" || lower == "n" || lower == "null" ||
         lower == "~";
}

void EmitMessage(const Message& message, YAML::Emitter* out);

void EmitValue(const Message& message, const FieldDescriptor* field, int index, YAML::Emitter* out) {
  const Reflection* reflection = message.GetReflection();
  const bool repeated = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE:
      EmitMessage(
          repeated ? reflection->GetRepeatedMessage(message, field, index) : reflection->GetMessage(message, field),
          out);
      return;
    case FieldDescriptor::CPPTYPE_INT32:
      *out << absl::StrCat(repeated ? reflection->GetRepeatedInt32(message, field, index)
                                    : reflection->GetInt32(message, field));
      return;
    case FieldDescriptor::CPPTYPE_INT64:
      *out << absl::StrCat(repeated ? reflection->GetRepeatedInt64(message, field, index)
                                    : reflection->GetInt64(message, field));
      return;
    case FieldDescriptor::CPPTYPE_UINT32:
      *out << absl::StrCat(repeated ? reflection->GetRepeatedUInt32(message, field, index)
                                    : reflection->GetUInt32(message, field));
      return;
    case FieldDescriptor::CPPTYPE_UINT64:
      *out << absl::StrCat(repeated ? reflection->GetRepeatedUInt64(message, field, index)
                                    : reflection->GetUInt64(message, field));
      return;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      *out << FormatDouble(repeated ? reflection->GetRepeatedDouble(message, field, index)
                                    : reflection->GetDouble(message, field));
      return;
    case FieldDescriptor::CPPTYPE_FLOAT:
      *out << FormatDouble(repeated ? reflection->GetRepeatedFloat(message, field, index)
                                    : reflection->GetFloat(message, field));
      return;
    case FieldDescriptor::CPPTYPE_BOOL:
      *out << ((repeated ? reflection->GetRepeatedBool(message, field, index) : reflection->GetBool(message, field))
                   ? "true"
                   : "false");
      return;
    case FieldDescriptor::CPPTYPE_ENUM: {
      int number =
          repeated ? reflection->GetRepeatedEnumValue(message, field, index) : reflection->GetEnumValue(message, field);
      const EnumValueDescriptor* value = field->enum_type()->FindValueByNumber(number);
      // An open-enum number with no name cannot be written by name; the number makes the loader name the key.
      *out << (value != nullptr ? EnumYamlName(value) : absl::StrCat(number));
      return;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string text =
          repeated ? reflection->GetRepeatedString(message, field, index) : reflection->GetString(message, field);
      if (NeedsQuotes(text)) *out << YAML::DoubleQuoted;
      *out << text;
      return;
    }
  }
}

void EmitMessage(const Message& message, YAML::Emitter* out) {
  const Descriptor* type = message.GetDescriptor();
  const Reflection* reflection = message.GetReflection();
  *out << YAML::BeginMap;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    if (field->is_map()) continue;  // Not decodable either; none in ftd.v1.
    if (field->is_repeated() ? reflection->FieldSize(message, field) == 0 : !reflection->HasField(message, field)) {
      continue;
    }
    *out << YAML::Key << field->name() << YAML::Value;
    if (!field->is_repeated()) {
      EmitValue(message, field, -1, out);
      continue;
    }
    if (IsLoraTargetModules(field) && reflection->FieldSize(message, field) == 1 &&
        reflection->GetRepeatedString(message, field, 0) == kAllLinear) {
      *out << std::string(kAllLinear);
      continue;
    }
    // Lists of scalars fit on one line; lists of maps read better as blocks.
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) *out << YAML::Flow;
    *out << YAML::BeginSeq;
    for (int j = 0; j < reflection->FieldSize(message, field); ++j) EmitValue(message, field, j, out);
    *out << YAML::EndSeq;
  }
  *out << YAML::EndMap;
}

}  // namespace

absl::StatusOr<JobSpec> DecodeJobSpecYaml(absl::string_view yaml_text) {
  // The one place yaml-cpp's exceptions are caught; past here everything is absl::Status.
  try {
    return DecodeDocuments(YAML::LoadAll(std::string(yaml_text)));
  } catch (const YAML::ParserException& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("yaml syntax error at line ", e.mark.line + 1, ", column ", e.mark.column + 1, ": ", e.msg));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("yaml error: ", e.what()));
  }
}

absl::StatusOr<JobSpec> ParseJobSpecYaml(absl::string_view yaml_text) {
  ASSIGN_OR_RETURN(JobSpec spec, DecodeJobSpecYaml(yaml_text));
  ApplyJobSpecDefaults(&spec);
  RETURN_IF_ERROR(ValidateJobSpec(spec));
  return spec;
}

absl::StatusOr<JobSpec> LoadJobSpecFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  auto os_error = [&path](int error) {
    std::string message = absl::StrCat(path, ": ", std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    if (error == EACCES) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  };
  if (file == nullptr) return os_error(errno);
  std::string text;
  char buffer[1 << 14];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, n);
  const int read_error = std::ferror(file) ? errno : 0;  // EISDIR for a directory.
  std::fclose(file);
  if (read_error != 0) return os_error(read_error);
  absl::StatusOr<JobSpec> spec = ParseJobSpecYaml(text);
  if (!spec.ok()) return Annotate(spec.status(), path);
  return spec;
}

std::string JobSpecToYaml(const JobSpec& spec) {
  YAML::Emitter out;
  EmitMessage(spec, &out);
  FTD_CHECK(out.good()) << "yaml emitter: " << out.GetLastError();
  return absl::StrCat(out.c_str(), "\n");
}

}  // namespace ftd
