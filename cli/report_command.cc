// ftctl report: GetTransferReport + GetJob + WatchJob (history only), converted and rendered, for one job or as a
// comparison of several (report_command.h).
#include "cli/report_command.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <ostream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "cli/job_commands.h"
#include "cli/job_format.h"
#include "cli/transfer_report_convert.h"
#include "common/report_compare.h"
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

// What FetchReport reads: the wire report alone (JSON output), or also the Job and its events for the plain report.
enum class ReportParts { kWire, kWireAndPlain };

struct FetchedReport {
  std::string name;                      // "jobs/ft-000001", the job the report and history belong to.
  v1::TransferReport wire;
  std::optional<TransferReport> report;  // With kWireAndPlain.
};

// The one way a job's report is read, for one job and for a comparison alike.
absl::StatusOr<FetchedReport> FetchReport(JobClient& client, const std::string& job, ReportParts parts) {
  // A stand-alone evaluation's report hangs under "evaluations/{id}"; its history is the job "jobs/{id}"'s.
  const bool evaluation = absl::StartsWith(job, "evaluations/");
  FetchedReport fetched;
  fetched.name = evaluation ? absl::StrCat("jobs/", absl::StripPrefix(job, "evaluations/")) : JobResourceName(job);
  v1::GetTransferReportRequest request;
  request.set_name(absl::StrCat(evaluation ? job : fetched.name, "/transferReport"));
  ASSIGN_OR_RETURN(fetched.wire, client.GetTransferReport(request));
  if (parts == ReportParts::kWire) return fetched;

  v1::GetJobRequest get;
  get.set_name(fetched.name);
  ASSIGN_OR_RETURN(const v1::Job job_proto, client.GetJob(get));
  ASSIGN_OR_RETURN(const std::vector<v1::JobEvent> events, ReadHistory(client, job_proto));
  fetched.report = TransferReportFromProto(fetched.wire, job_proto, events);
  return fetched;
}

// Several jobs: one comparison table, or a JSON array of the wire reports.
absl::Status CompareReports(JobClient& client, const ReportOptions& options, OutputFormat format, std::ostream& out) {
  if (!options.html_path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--html takes one job, got ", options.more_jobs.size() + 1, " (compare several as Markdown or -o json)"));
  }
  std::vector<std::string> jobs = {options.job};
  jobs.insert(jobs.end(), options.more_jobs.begin(), options.more_jobs.end());
  const ReportParts parts = format == OutputFormat::kJson ? ReportParts::kWire : ReportParts::kWireAndPlain;
  std::vector<FetchedReport> fetched;
  for (const std::string& job : jobs) {
    ASSIGN_OR_RETURN(FetchedReport one, FetchReport(client, job, parts));
    fetched.push_back(std::move(one));
  }
  if (format == OutputFormat::kJson) {
    // Each object indented one level more, so the array reads like the single-job output.
    std::vector<std::string> objects;
    for (const FetchedReport& f : fetched) {
      ASSIGN_OR_RETURN(const std::string json, ToJson(f.wire, JsonLayout::kIndented));
      objects.push_back(absl::StrCat("  ", absl::StrReplaceAll(json, {{"\n", "\n  "}})));
    }
    out << "[\n" << absl::StrJoin(objects, ",\n") << "\n]\n";
    return absl::OkStatus();
  }
  std::vector<TransferReport> reports;
  for (FetchedReport& f : fetched) reports.push_back(*std::move(f.report));
  out << RenderComparisonMarkdown(reports);
  return absl::OkStatus();
}

}  // namespace

absl::Status JobReport(JobClient& client, const ReportOptions& options, OutputFormat format, std::ostream& out) {
  if (!options.more_jobs.empty()) return CompareReports(client, options, format, out);
  const ReportParts parts =
      format == OutputFormat::kJson && options.html_path.empty() ? ReportParts::kWire : ReportParts::kWireAndPlain;
  ASSIGN_OR_RETURN(const FetchedReport fetched, FetchReport(client, options.job, parts));
  if (parts == ReportParts::kWire) {
    ASSIGN_OR_RETURN(const std::string json, ToJson(fetched.wire, JsonLayout::kIndented));
    out << json << '\n';
    return absl::OkStatus();
  }
  if (options.html_path.empty()) {
    out << RenderMarkdownReport(*fetched.report);
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(WriteFileAtomically(options.html_path, RenderHtmlReport(*fetched.report)));
  if (format == OutputFormat::kJson) {
    ASSIGN_OR_RETURN(const std::string json, ToJson(fetched.wire, JsonLayout::kIndented));
    out << json << '\n';
  } else {
    out << "wrote the transfer report of " << fetched.name << " to " << options.html_path << '\n';
  }
  return absl::OkStatus();
}

}  // namespace ftd
