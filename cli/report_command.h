// ftctl report, flag-free: fetches a job's transfer report (GetTransferReport), its Job and its events (WatchJob up
// to the job's newest event, for the training curves and the early stop), and renders it as Markdown, as one
// self-contained HTML page, or prints the wire report as JSON. Built only with FTD_SERVICE=ON.
#pragma once

#include <iosfwd>
#include <string>

#include "absl/status/status.h"
#include "cli/job_client.h"
#include "cli/output_format.h"

namespace ftd {

struct ReportOptions {
  std::string job;        // "ft-000001", "jobs/ft-000001", or "evaluations/ft-000002" (a stand-alone evaluation's).
  std::string html_path;  // Non-empty: write the HTML page here (replacing a file there) instead of printing Markdown.
};

// kTable: the Markdown report on `out`, or with html_path the page written to that file and one line on `out`
// naming it. kJson: the ftd.v1.TransferReport as JSON on `out` (and with html_path the page written too). The
// server's NOT_FOUND ("job jobs/X has no transfer report yet (state S)") is returned as it is. The events are read
// up to the Job's last_event_sequence, so the command ends for a job that is not terminal yet.
absl::Status JobReport(JobClient& client, const ReportOptions& options, OutputFormat format, std::ostream& out);

}  // namespace ftd
