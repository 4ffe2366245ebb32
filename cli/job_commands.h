// ftctl's job commands, flag-free: submit, list, get, cancel, watch, logs, checkpoints. Each takes a JobClient,
// its inputs and the stream to print to, and returns a Status; the CLI layer (job_cli.cc) parses flags and prints
// errors as "ftctl: <message>". Built only with FTD_SERVICE=ON.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/job_client.h"
#include "cli/output_format.h"
#include "ftd/v1/job.pb.h"
#include "ftd/v1/metrics.pb.h"

namespace ftd {

// "jobs/ft-000001" for "ft-000001" or "jobs/ft-000001": users may type the id alone.
std::string JobResourceName(absl::string_view job);

enum class SubmitMode { kSubmit, kValidateOnly };

struct SubmitOptions {
  std::string spec_path;   // YAML job spec.
  std::string request_id;  // Idempotency key; empty: none.
  SubmitMode mode = SubmitMode::kSubmit;
};

// Loads and validates the YAML spec locally (errors name the file and key: "job.yaml: lora_r: must be > 0, got
// -1"), then sends it as written (defaults are the server's to apply). Prints the new job's name, or the Job in
// JSON. kValidateOnly asks the server to validate without storing and prints a confirmation.
absl::Status JobSubmit(JobClient& client, const SubmitOptions& options, OutputFormat format, std::ostream& out);

enum class ListPages { kOne, kAll };

struct ListOptions {
  std::string state;       // A JobState without its prefix, any case ("running"); empty: every state.
  std::string base_model;  // Exact base_model path; empty: any.
  std::string spec_name;   // Exact spec.name; empty: any.
  int32_t page_size = 0;   // 0: the server's default.
  std::string page_token;  // From a previous page; empty: the first.
  ListPages pages = ListPages::kOne;
};

// Newest first. One page prints the table and, when more follow, the token of the next; kAll follows every
// token and prints one table (JSON: one ListJobsResponse with every job and no token).
absl::Status JobList(JobClient& client, const ListOptions& options, OutputFormat format, std::ostream& out);

absl::Status JobGet(JobClient& client, absl::string_view job, OutputFormat format, std::ostream& out);

// Prints "jobs/ft-000001 CANCELLED" (or the Job in JSON). A terminal job is the server's FAILED_PRECONDITION.
absl::Status JobCancel(JobClient& client, absl::string_view job, const std::string& reason, OutputFormat format,
                       std::ostream& out);

// kRewrite redraws one line in place with '\r' (a terminal); kLines prints a line per change (a pipe or a file).
enum class ProgressStyle { kRewrite, kLines };

struct WatchOutcome {
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;  // Terminal.
  std::string message;                             // How it ended: WatchProgress::Outcome().
};

// Follows a job to its end. Table: the current progress line (history is folded in silently), then a line per
// change (WatchProgress in job_format.h). JSON: every JobEvent, history first, one JSON object per line.
// UNAVAILABLE if the stream ends before the job is terminal (a server restart: watch again).
absl::StatusOr<WatchOutcome> JobWatch(JobClient& client, absl::string_view job, OutputFormat format,
                                      ProgressStyle style, std::ostream& out);

// ftctl watch's exit code for a job that ended in `state`: 0 SUCCEEDED, 2 FAILED, 3 CANCELLED, 4 EARLY_STOPPED
// (1 stays ftctl's own error, e.g. the server is unreachable).
int WatchExitCode(v1::JobState state);

enum class LogFollow { kNo, kFollow };

struct LogsOptions {
  std::string job;
  std::optional<int32_t> rank;                        // Only this rank's lines; unset: all, and the coordinator's.
  v1::LogLevel min_level = v1::LOG_LEVEL_UNSPECIFIED;  // Only lines at this level or above.
  LogFollow follow = LogFollow::kNo;
};

// Every stored line (GetJobLogs, all pages), oldest first; with kFollow then the job's live log events
// (WatchJob from the sequence the job had before the pages were read) until it ends. A line written while the
// pages are read may print twice; none is lost. JSON: one LogLine object per line.
absl::Status JobLogs(JobClient& client, const LogsOptions& options, OutputFormat format, std::ostream& out);

// Every checkpoint of the job (ListCheckpoints, all pages), oldest first; JSON: one ListCheckpointsResponse.
absl::Status JobCheckpoints(JobClient& client, absl::string_view job, OutputFormat format, std::ostream& out);

}  // namespace ftd
