// ListJobs filter, order and page-token handling for both JobServices.
#include "coordinator/service/job_list_query.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ftd {
namespace {

constexpr absl::string_view kTokenVersion = "v1";

}  // namespace

bool JobFilter::Matches(const v1::Job& job) const {
  if (state.has_value() && job.state() != *state) return false;
  if (base_model.has_value() && job.spec().base_model() != *base_model) return false;
  if (spec_name.has_value() && job.spec().name() != *spec_name) return false;
  return true;
}

absl::StatusOr<JobFilter> ParseJobFilter(absl::string_view filter) {
  JobFilter parsed;
  if (absl::StripAsciiWhitespace(filter).empty()) return parsed;
  for (absl::string_view term : absl::StrSplit(filter, " AND ")) {
    term = absl::StripAsciiWhitespace(term);
    const size_t eq = term.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("filter: term \"", term, "\" is not key=value"));
    }
    const absl::string_view key = absl::StripAsciiWhitespace(term.substr(0, eq));
    const absl::string_view value = absl::StripAsciiWhitespace(term.substr(eq + 1));
    if (key == "state") {
      v1::JobState state;
      if (value.empty() || !v1::JobState_Parse(absl::StrCat("JOB_STATE_", value), &state) ||
          state == v1::JOB_STATE_UNSPECIFIED) {
        return absl::InvalidArgumentError(
            absl::StrCat("filter: unknown state \"", value, "\" (expected e.g. state=RUNNING)"));
      }
      parsed.state = state;
    } else if (key == "base_model") {
      parsed.base_model = std::string(value);
    } else if (key == "spec.name") {
      parsed.spec_name = std::string(value);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("filter: unknown key \"", key, "\" (supported: state, base_model, spec.name)"));
    }
  }
  return parsed;
}

absl::StatusOr<JobOrder> ParseJobOrder(absl::string_view order_by) {
  const absl::string_view order = absl::StripAsciiWhitespace(order_by);
  if (order.empty() || order == "create_time desc") return JobOrder::kNewestFirst;
  if (order == "create_time" || order == "create_time asc") return JobOrder::kOldestFirst;
  return absl::InvalidArgumentError(absl::StrCat(
      "order_by: unsupported \"", order_by, "\" (supported: \"create_time desc\", \"create_time\")"));
}

std::string EncodePageToken(absl::string_view cursor, absl::string_view filter, absl::string_view order_by) {
  // Web-safe base64 keeps the token opaque and printable; clients must not parse it.
  return absl::WebSafeBase64Escape(absl::StrCat(kTokenVersion, "|", cursor, "|", order_by, "|", filter));
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view token, absl::string_view filter,
                                            absl::string_view order_by) {
  std::string raw;
  const absl::Status malformed = absl::InvalidArgumentError("page_token is malformed");
  if (!absl::WebSafeBase64Unescape(token, &raw)) return malformed;
  // The filter goes last and may itself contain '|': split off the first three fields only.
  std::vector<absl::string_view> parts = absl::StrSplit(raw, absl::MaxSplits('|', 3));
  if (parts.size() != 4 || parts[0] != kTokenVersion || parts[1].empty()) return malformed;
  if (parts[2] != order_by || parts[3] != filter) {
    return absl::InvalidArgumentError(
        "page_token was issued for a different filter or order_by; restart listing without a token");
  }
  return std::string(parts[1]);
}

}  // namespace ftd
