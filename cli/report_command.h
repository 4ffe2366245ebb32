// ftctl report, flag-free: fetches a job's transfer report (GetTransferReport), its Job and its events (WatchJob up
// to the job's newest event, for the training curves and the early stop), and renders it as Markdown, as one
// self-contained HTML page, or prints the wire report as JSON; with several jobs, one Markdown comparison table of
// them (common/report_compare.h) or a JSON array. Built only with FTD_SERVICE=ON.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/job_client.h"
#include "cli/output_format.h"

namespace ftd {

struct ReportOptions {
  std::string job;        // "ft-000001", "jobs/ft-000001", or "evaluations/ft-000002" (a stand-alone evaluation's).
  // Further jobs, in the same forms. With any, `job` and these are compared (`ftctl report J1 J2 ...`).
  std::vector<std::string> more_jobs;
  std::string html_path;  // Non-empty: write the HTML page here (replacing a file there) instead of printing Markdown.
};

// kTable: the Markdown report on `out`, or with html_path the page written to that file and one line on `out`
// naming it. kJson: the ftd.v1.TransferReport as JSON on `out` (and with html_path the page written too). The
// server's NOT_FOUND ("job jobs/X has no transfer report yet (state S)") is returned as it is. The events are read
// up to the Job's last_event_sequence, so the command ends for a job that is not terminal yet.
absl::Status JobReport(JobClient& client, const ReportOptions& options, OutputFormat format, std::ostream& out);

}  // namespace ftd
