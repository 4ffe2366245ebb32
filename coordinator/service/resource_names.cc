// ParseJobName / JobName / JobNotFoundAs.
#include "coordinator/service/resource_names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace ftd {

absl::StatusOr<std::string> ParseJobName(absl::string_view name, absl::string_view field) {
  absl::string_view id = name;
  bool ok = absl::ConsumePrefix(&id, "jobs/") && !id.empty() && id.size() <= 63 && absl::ascii_islower(id[0]);
  for (char c : id) ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-');
  if (ok) return std::string(id);
  return absl::InvalidArgumentError(absl::StrCat(field, ": \"", absl::CHexEscape(name),
                                                 "\" is not a job name like jobs/{job} ({job}: [a-z][a-z0-9-]{0,62})"));
}

std::string JobName(absl::string_view job_id) { return absl::StrCat("jobs/", job_id); }

absl::Status JobNotFoundAs(const absl::Status& status, absl::string_view job_name) {
  if (status.code() != absl::StatusCode::kNotFound) return status;
  return absl::NotFoundError(absl::StrCat("job ", job_name, " not found"));
}

}  // namespace ftd
