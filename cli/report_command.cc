// ftctl report: GetTransferReport + GetJob + WatchJob (history only), converted and rendered (report_command.h).
#include "cli/report_command.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <ostream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "cli/job_commands.h"
#include "cli/job_format.h"
#include "cli/transfer_report_convert.h"
#include "common/report_html.h"
#include "common/report_markdown.h"
#include "common/status_macros.h"

namespace ftd {
namespace {

// The job's events with sequence <= its last_event_sequence. WatchJob ends by itself only for a terminal job, so
// the stream is cancelled once that event has arrived.
absl::StatusOr<std::vector<v1::JobEvent>> ReadHistory(JobClient& client, const v1::Job& job) {
  std::vector<v1::JobEvent> events;
  if (job.last_event_sequence() <= 0) return events;
  v1::WatchJobRequest request;
  request.set_name(job.name());
  bool reached_end = false;
  const absl::Status watched = client.WatchJob(request, [&](const v1::JobEvent& event) -> absl::Status {
    events.push_back(event);
    if (event.sequence() < job.last_event_sequence()) return absl::OkStatus();
    reached_end = true;
    return absl::CancelledError("read the job's history");  // Stops the stream; not an error for the caller.
  });
  if (!reached_end) RETURN_IF_ERROR(watched);
  return events;
}

// Writes `text` to "<path>.partial" and renames it over `path`, so a failed write never leaves half a page there.
absl::Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string partial = absl::StrCat(path, ".partial");
  {
    std::ofstream file(partial, std::ios::binary | std::ios::trunc);
    if (!file) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
    file << text;
    file.close();
    if (!file) {
      std::remove(partial.c_str());
      return absl::DataLossError(absl::StrCat(path, ": write failed: ", std::strerror(errno)));
    }
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(partial.c_str());
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write: ", std::strerror(error)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status JobReport(JobClient& client, const ReportOptions& options, OutputFormat format, std::ostream& out) {
  // A stand-alone evaluation's report hangs under "evaluations/{id}"; its history is the job "jobs/{id}"'s.
  const bool evaluation = absl::StartsWith(options.job, "evaluations/");
  const std::string name =
      evaluation ? absl::StrCat("jobs/", absl::StripPrefix(options.job, "evaluations/")) : JobResourceName(options.job);
  v1::GetTransferReportRequest request;
  request.set_name(absl::StrCat(evaluation ? options.job : name, "/transferReport"));
  ASSIGN_OR_RETURN(const v1::TransferReport wire, client.GetTransferReport(request));
  if (format == OutputFormat::kJson && options.html_path.empty()) {
    ASSIGN_OR_RETURN(const std::string json, ToJson(wire, JsonLayout::kIndented));
    out << json << '\n';
    return absl::OkStatus();
  }

  v1::GetJobRequest get;
  get.set_name(name);
  ASSIGN_OR_RETURN(const v1::Job job, client.GetJob(get));
  ASSIGN_OR_RETURN(const std::vector<v1::JobEvent> events, ReadHistory(client, job));
  const TransferReport report = TransferReportFromProto(wire, job, events);

  if (options.html_path.empty()) {
    out << RenderMarkdownReport(report);
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(WriteFileAtomically(options.html_path, RenderHtmlReport(report)));
  if (format == OutputFormat::kJson) {
    ASSIGN_OR_RETURN(const std::string json, ToJson(wire, JsonLayout::kIndented));
    out << json << '\n';
  } else {
    out << "wrote the transfer report of " << name << " to " << options.html_path << '\n';
  }
  return absl::OkStatus();
}

}  // namespace ftd
