// ftctl submit / list / get / cancel / watch / logs / checkpoints over JobClient, printed with job_format.h.
#include "cli/job_commands.h"

#include <ostream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/job_format.h"
#include "common/text_file.h"
#include "common/job_spec_yaml.h"
#include "common/status_macros.h"

namespace ftd {
namespace {

constexpr absl::string_view kJobPrefix = "jobs/";
// A server whose page token never empties would keep a paging loop going; this many pages is surely a bug.
constexpr int kMaxPages = 100000;

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED || state == v1::JOB_STATE_CANCELLED ||
         state == v1::JOB_STATE_EARLY_STOPPED;
}

absl::Status PrintJson(const google::protobuf::Message& message, JsonLayout layout, std::ostream& out) {
  ASSIGN_OR_RETURN(const std::string json, ToJson(message, layout));
  out << json << '\n';
  if (layout == JsonLayout::kOneLine) out.flush();  // A stream's reader may be waiting for each line.
  return absl::OkStatus();
}

// Calls `fetch(token)` page after page until the server returns an empty next_page_token.
template <typename Response, typename Fetch, typename Visit>
absl::Status ForEachPage(std::string token, Fetch fetch, Visit visit) {
  for (int pages = 0; pages < kMaxPages; ++pages) {
    ASSIGN_OR_RETURN(Response page, fetch(token));
    RETURN_IF_ERROR(visit(page));
    if (page.next_page_token().empty()) return absl::OkStatus();
    if (page.next_page_token() == token) {
      return absl::InternalError(absl::StrCat("the server returned the page token \"", token, "\" twice"));
    }
    token = page.next_page_token();
  }
  return absl::InternalError(absl::StrCat("the server's paging did not end within ", kMaxPages, " pages"));
}

// `key=value` for the ListJobs filter, whose grammar has no quoting.
absl::Status AddFilterTerm(absl::string_view key, absl::string_view value, std::vector<std::string>& terms) {
  if (value.empty()) return absl::OkStatus();
  if (absl::StrContains(value, " AND ")) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": cannot contain \" AND \" (the filter has no quoting)"));
  }
  terms.push_back(absl::StrCat(key, "=", value));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ListFilter(const ListOptions& options) {
  std::vector<std::string> terms;
  if (!options.state.empty()) {
    const std::string state = absl::AsciiStrToUpper(options.state);
    v1::JobState parsed;
    if (!v1::JobState_Parse(absl::StrCat("JOB_STATE_", state), &parsed) || parsed == v1::JOB_STATE_UNSPECIFIED) {
      std::vector<std::string> names;
      for (int s = v1::JobState_MIN + 1; s <= v1::JobState_MAX; ++s) {
        if (v1::JobState_IsValid(s)) names.push_back(JobStateName(static_cast<v1::JobState>(s)));
      }
      return absl::InvalidArgumentError(absl::StrCat("state: unknown job state \"", options.state,
                                                     "\" (one of ", absl::StrJoin(names, ", "), ")"));
    }
    terms.push_back(absl::StrCat("state=", state));
  }
  RETURN_IF_ERROR(AddFilterTerm("base_model", options.base_model, terms));
  RETURN_IF_ERROR(AddFilterTerm("spec.name", options.spec_name, terms));
  return absl::StrJoin(terms, " AND ");
}

// Draws WatchProgress lines: in place on a terminal, else one line per change. Skips repeats either way.
class ProgressPrinter {
 public:
  ProgressPrinter(ProgressStyle style, std::ostream& out) : style_(style), out_(out) {}

  void Show(const std::string& line) {
    if (line == last_) return;
    if (style_ == ProgressStyle::kRewrite) {
      out_ << '\r' << line;
      // Blank out what is left of a longer previous line.
      if (last_.size() > line.size()) out_ << std::string(last_.size() - line.size(), ' ');
    } else {
      out_ << line << '\n';
    }
    out_.flush();
    last_ = line;
  }

  // Ends the redrawn line, so what follows starts on its own.
  void Finish() {
    if (style_ == ProgressStyle::kRewrite && !last_.empty()) out_ << '\n' << std::flush;
  }

 private:
  const ProgressStyle style_;
  std::ostream& out_;
  std::string last_;
};

bool LogLineMatches(const v1::LogLine& line, const LogsOptions& options) {
  if (options.rank.has_value() && (!line.has_rank() || line.rank() != *options.rank)) return false;
  return line.level() >= options.min_level;
}

}  // namespace

std::string JobResourceName(absl::string_view job) {
  if (absl::StartsWith(job, kJobPrefix)) return std::string(job);
  return absl::StrCat(kJobPrefix, job);
}

absl::Status JobSubmit(JobClient& client, const SubmitOptions& options, OutputFormat format, std::ostream& out) {
  ASSIGN_OR_RETURN(const std::string yaml, ReadTextFile(options.spec_path));
  // Validated here with the defaults applied, so a bad spec fails before any network call and names its key...
  RETURN_IF_ERROR_CONTEXT(ParseJobSpecYaml(yaml).status(), options.spec_path);
  // ...but sent as written: Job.spec shows what the user asked for, and the server applies the defaults.
  v1::SubmitJobRequest request;
  ASSIGN_OR_RETURN_CONTEXT(*request.mutable_spec(), DecodeJobSpecYaml(yaml), options.spec_path);
  request.set_request_id(options.request_id);
  request.set_validate_only(options.mode == SubmitMode::kValidateOnly);
  ASSIGN_OR_RETURN(const v1::Job job, client.SubmitJob(request));
  if (format == OutputFormat::kJson) return PrintJson(job, JsonLayout::kIndented, out);
  if (options.mode == SubmitMode::kValidateOnly) {
    out << options.spec_path << ": valid (checked by the server, not submitted)\n";
  } else {
    out << job.name() << '\n';
  }
  return absl::OkStatus();
}

absl::Status JobList(JobClient& client, const ListOptions& options, OutputFormat format, std::ostream& out) {
  if (options.page_size < 0) return absl::InvalidArgumentError("page size: must be >= 0");
  v1::ListJobsRequest request;
  ASSIGN_OR_RETURN(*request.mutable_filter(), ListFilter(options));
  request.set_page_size(options.page_size);
  auto fetch = [&](const std::string& token) {
    request.set_page_token(token);
    return client.ListJobs(request);
  };

  v1::ListJobsResponse listed;
  if (options.pages == ListPages::kOne) {
    ASSIGN_OR_RETURN(listed, fetch(options.page_token));
  } else {
    RETURN_IF_ERROR(ForEachPage<v1::ListJobsResponse>(options.page_token, fetch, [&](const v1::ListJobsResponse& page) {
      for (const v1::Job& job : page.jobs()) *listed.add_jobs() = job;
      return absl::OkStatus();
    }));
  }
  if (format == OutputFormat::kJson) return PrintJson(listed, JsonLayout::kIndented, out);
  out << FormatJobTable(listed.jobs());
  if (!listed.next_page_token().empty()) out << "more jobs: --page-token " << listed.next_page_token() << '\n';
  return absl::OkStatus();
}

absl::Status JobGet(JobClient& client, absl::string_view job, OutputFormat format, std::ostream& out) {
  v1::GetJobRequest request;
  request.set_name(JobResourceName(job));
  ASSIGN_OR_RETURN(const v1::Job got, client.GetJob(request));
  if (format == OutputFormat::kJson) return PrintJson(got, JsonLayout::kIndented, out);
  out << FormatJobDetails(got);
  return absl::OkStatus();
}

absl::Status JobCancel(JobClient& client, absl::string_view job, const std::string& reason, OutputFormat format,
                       std::ostream& out) {
  v1::CancelJobRequest request;
  request.set_name(JobResourceName(job));
  request.set_reason(reason);
  ASSIGN_OR_RETURN(const v1::Job cancelled, client.CancelJob(request));
  if (format == OutputFormat::kJson) return PrintJson(cancelled, JsonLayout::kIndented, out);
  out << cancelled.name() << ' ' << JobStateName(cancelled.state()) << '\n';
  return absl::OkStatus();
}

absl::StatusOr<WatchOutcome> JobWatch(JobClient& client, absl::string_view job, OutputFormat format,
                                      ProgressStyle style, std::ostream& out) {
  // The snapshot gives what events do not carry (total steps, the coordinator's ETA) and the sequence up to
  // which the history is folded in silently, so a long job's watch starts with one line, not thousands.
  v1::GetJobRequest get;
  get.set_name(JobResourceName(job));
  ASSIGN_OR_RETURN(const v1::Job snapshot, client.GetJob(get));
  WatchProgress progress(snapshot);
  ProgressPrinter printer(style, out);

  v1::WatchJobRequest request;
  request.set_name(snapshot.name());
  request.set_after_sequence(0);  // The whole history, then live events.
  const absl::Status watched = client.WatchJob(request, [&](const v1::JobEvent& event) -> absl::Status {
    progress.Apply(event);
    if (format == OutputFormat::kJson) return PrintJson(event, JsonLayout::kOneLine, out);
    if (event.sequence() >= snapshot.last_event_sequence()) printer.Show(progress.Line());
    return absl::OkStatus();
  });
  if (format == OutputFormat::kTable) {
    if (watched.ok()) printer.Show(progress.Line());
    printer.Finish();
  }
  RETURN_IF_ERROR(watched);
  if (!IsTerminal(progress.state())) {
    return absl::UnavailableError(absl::StrCat("the server ended the watch of ", snapshot.name(),
                                               " before the job finished (", JobStateName(progress.state()),
                                               "); watch again"));
  }
  return WatchOutcome{progress.state(), progress.Outcome()};
}

int WatchExitCode(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_SUCCEEDED: return 0;
    case v1::JOB_STATE_FAILED: return 2;
    case v1::JOB_STATE_CANCELLED: return 3;
    case v1::JOB_STATE_EARLY_STOPPED: return 4;
    default: return 1;
  }
}

absl::Status JobLogs(JobClient& client, const LogsOptions& options, OutputFormat format, std::ostream& out) {
  const std::string name = JobResourceName(options.job);
  auto print = [&](const v1::LogLine& line) -> absl::Status {
    if (format == OutputFormat::kJson) return PrintJson(line, JsonLayout::kOneLine, out);
    out << FormatLogLine(line) << '\n';
    return absl::OkStatus();
  };

  // Taken before the pages are read, so following from it can repeat a line but never skip one.
  int64_t follow_after = 0;
  if (options.follow == LogFollow::kFollow) {
    v1::GetJobRequest get;
    get.set_name(name);
    ASSIGN_OR_RETURN(const v1::Job job, client.GetJob(get));
    follow_after = job.last_event_sequence();
  }

  v1::GetJobLogsRequest request;
  request.set_name(name);
  if (options.rank.has_value()) request.set_rank(*options.rank);
  request.set_min_level(options.min_level);
  auto fetch = [&](const std::string& token) {
    request.set_page_token(token);
    return client.GetJobLogs(request);
  };
  RETURN_IF_ERROR(ForEachPage<v1::GetJobLogsResponse>("", fetch, [&](const v1::GetJobLogsResponse& page) {
    for (const v1::LogLine& line : page.lines()) RETURN_IF_ERROR(print(line));
    return absl::OkStatus();
  }));
  out.flush();
  if (options.follow == LogFollow::kNo) return absl::OkStatus();

  v1::WatchJobRequest watch;
  watch.set_name(name);
  watch.set_after_sequence(follow_after);
  return client.WatchJob(watch, [&](const v1::JobEvent& event) -> absl::Status {
    if (!event.has_log() || !LogLineMatches(event.log(), options)) return absl::OkStatus();
    RETURN_IF_ERROR(print(event.log()));
    out.flush();
    return absl::OkStatus();
  });
}

absl::Status JobCheckpoints(JobClient& client, absl::string_view job, OutputFormat format, std::ostream& out) {
  v1::ListCheckpointsRequest request;
  request.set_parent(JobResourceName(job));
  auto fetch = [&](const std::string& token) {
    request.set_page_token(token);
    return client.ListCheckpoints(request);
  };
  v1::ListCheckpointsResponse all;
  RETURN_IF_ERROR(ForEachPage<v1::ListCheckpointsResponse>("", fetch, [&](const v1::ListCheckpointsResponse& page) {
    for (const v1::Checkpoint& checkpoint : page.checkpoints()) *all.add_checkpoints() = checkpoint;
    return absl::OkStatus();
  }));
  if (format == OutputFormat::kJson) return PrintJson(all, JsonLayout::kIndented, out);
  out << FormatCheckpointTable(all.checkpoints());
  return absl::OkStatus();
}

}  // namespace ftd
