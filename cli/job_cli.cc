// AddJobCommands for service builds: the flags of submit, list, get, cancel, watch, logs, checkpoints, export,
// report, workers, eval, evaluation and backup, the connection settings (flags, FTD_SERVER / FTD_TOKEN / FTD_CONFIG,
// the config file) and the exit codes.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/time/time.h"
#include "absl/strings/str_cat.h"
#include "cli/backup_command.h"
#include "cli/client_config.h"
#include "cli/eval_command.h"
#include "cli/export_command.h"
#include "cli/ftctl_cli.h"
#include "cli/job_cli.h"
#include "cli/job_client.h"
#include "cli/job_commands.h"
#include "cli/report_command.h"
#include "cli/worker_commands.h"

namespace ftd {
namespace {

// Every job subcommand's flag values; one subcommand runs per process, so they share one set.
struct JobFlags {
  std::string server;
  std::string token;
  std::string tls_ca;
  double timeout_seconds = 30;
  std::string output = "table";
  std::string job;
  SubmitOptions submit;
  bool validate_only = false;
  ListOptions list;
  bool all_pages = false;
  std::string reason;
  int32_t rank = 0;
  std::string min_level;
  bool follow = false;
  std::string export_kind;
  std::string backup_dir;
  ExportOptions export_options;
  std::vector<std::string> report_jobs;  // `report`'s positionals: one job, or several to compare.
  ReportOptions report;
  EvalOptions eval;
};

// --server, --token, --timeout and -o on every job subcommand, so they may follow it: `ftctl list -o json`.
void AddCommonFlags(CLI::App& command, JobFlags& flags) {
  command.group("Job commands (need an ftd server)");
  command.add_option("--server", flags.server,
                     "ftd server host:port (else $FTD_SERVER, the config file's server, 127.0.0.1:7070)");
  command.add_option("--token", flags.token,
                     "Bearer token (else $FTD_TOKEN, the config file's token); visible to `ps`, prefer $FTD_TOKEN");
  command.add_option("--tls-ca", flags.tls_ca, "PEM CA of the server's certificate: use TLS (else $FTD_TLS_CA)");
  command.add_option("--timeout", flags.timeout_seconds, "Deadline of each call in seconds (default 30)")
      ->check(CLI::Range(0.001, 86400.0));
  command.add_option("-o,--output", flags.output, "table or json")->check(CLI::IsMember({"table", "json"}));
}

std::optional<std::string> GetEnv(absl::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::optional<std::string> NonEmpty(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

}  // namespace

JobCommandRunner AddJobCommands(CLI::App& app) {
  auto flags = std::make_shared<JobFlags>();
  JobFlags& f = *flags;

  CLI::App* submit = app.add_subcommand("submit", "Submit a job from a YAML spec; prints the job's name");
  submit->add_option("spec", f.submit.spec_path, "Job spec (YAML)")->required();
  submit->add_option("--request-id", f.submit.request_id,
                     "Idempotency key (e.g. a UUID): a retry with the same key and spec returns the same job");
  submit->add_flag("--validate-only", f.validate_only, "Have the server validate the spec without creating a job");

  CLI::App* list = app.add_subcommand("list", "List jobs, newest first");
  list->add_option("--state", f.list.state, "Only jobs in this state (e.g. running, failed)");
  list->add_option("--base-model", f.list.base_model, "Only jobs of this base_model path");
  list->add_option("--name", f.list.spec_name, "Only jobs whose spec name is this");
  list->add_option("--page-size", f.list.page_size, "Jobs per page (server default 50, at most 1000)")
      ->check(CLI::Range(0, 1000));
  list->add_option("--page-token", f.list.page_token, "Token printed by the previous page");
  list->add_flag("--all", f.all_pages, "Follow every page");

  CLI::App* get = app.add_subcommand("get", "Show a job: state, progress, error, placement");
  get->add_option("job", f.job, "Job: jobs/ft-000001 or ft-000001")->required();

  CLI::App* cancel = app.add_subcommand("cancel", "Cancel a job that has not ended");
  cancel->add_option("job", f.job, "Job: jobs/ft-000001 or ft-000001")->required();
  cancel->add_option("--reason", f.reason, "Why; recorded in the job's history");

  CLI::App* watch = app.add_subcommand(
      "watch", "Follow a job's progress until it ends; exit 0 SUCCEEDED, 2 FAILED, 3 CANCELLED, 4 EARLY_STOPPED");
  watch->add_option("job", f.job, "Job: jobs/ft-000001 or ft-000001")->required();

  CLI::App* logs = app.add_subcommand("logs", "Print a job's log lines; -f follows them until the job ends");
  logs->add_option("job", f.job, "Job: jobs/ft-000001 or ft-000001")->required();
  logs->add_flag("-f,--follow", f.follow, "Keep printing new lines until the job ends");
  CLI::Option* rank = logs->add_option("--rank", f.rank, "Only this rank's lines")->check(CLI::NonNegativeNumber);
  logs->add_option("--level", f.min_level, "Only lines at this level or above")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}, CLI::ignore_case));

  CLI::App* checkpoints = app.add_subcommand("checkpoints", "List a job's checkpoints, oldest first");
  checkpoints->add_option("job", f.job, "Job: jobs/ft-000001 or ft-000001")->required();

  CLI::App* export_command = app.add_subcommand(
      "export", "Download a job's adapter, merged model or checkpoint into a directory, checking every file's sha256");
  export_command->add_option("job", f.job, "Job: jobs/ft-000001 or ft-000001")->required();
  export_command->add_option("--kind", f.export_kind,
                             "adapter, merged or checkpoint (default: checkpoint with --checkpoint NAME, else adapter)")
      ->check(CLI::IsMember({"adapter", "merged", "checkpoint"}, CLI::ignore_case));
  export_command->add_option("--checkpoint", f.export_options.checkpoint,
                             "A checkpoint of the job (e.g. step-00000020, final); default: the job's final result, "
                             "or for --kind checkpoint its best (else newest) checkpoint");
  export_command->add_option("-d,--dir", f.export_options.dir,
                             "Output directory; must not exist or be empty (written to DIR.partial, then renamed)")
      ->required();

  CLI::App* report = app.add_subcommand(
      "report",
      "Print a job's transfer report (base vs tuned per benchmark, verdicts, curves) as Markdown; with several jobs, "
      "one table comparing them");
  report->add_option("job", f.report_jobs, "Job(s): jobs/ft-000001 or ft-000001; several print one comparison")
      ->required();
  report->add_option("--html", f.report.html_path,
                     "Write the report as one self-contained HTML page (inline CSS and SVG charts) to this file "
                     "(one job only)");

  CLI::App* workers = app.add_subcommand("workers", "List the workers holding a lease and the ranks placed on them");

  CLI::App* eval = app.add_subcommand(
      "eval", "Score a model, adapter or job result on benchmarks (a stand-alone evaluation); prints its name");
  eval->add_option("--model", f.eval.model, "Model directory to score (with --adapter: the adapter's base model)");
  eval->add_option("--adapter", f.eval.adapter, "PEFT adapter directory applied to --model");
  eval->add_option("--job", f.eval.job, "Score this job's final result (jobs/ft-000001 or ft-000001)");
  eval->add_option("--baseline", f.eval.baseline,
                   "Also score this model directory and build a transfer report against it");
  eval->add_option("--benchmark", f.eval.benchmarks,
                   "SUITE=PATH, repeatable (mmlu, hellaswag, piqa, perplexity, task, long_context)")
      ->required();
  eval->add_option("--limit", f.eval.limit, "Items per benchmark (0: all)")->check(CLI::NonNegativeNumber);
  eval->add_option("--num-fewshot", f.eval.num_fewshot, "Few-shot examples (mmlu, task)")
      ->check(CLI::NonNegativeNumber);
  eval->add_option("--context-lengths", f.eval.context_lengths, "long_context: comma-separated lengths in tokens")
      ->delimiter(',');
  eval->add_option("--device", f.eval.device, "cuda or cpu (default cuda)")
      ->check(CLI::IsMember({"cuda", "cpu"}, CLI::ignore_case));
  eval->add_option("--request-id", f.eval.request_id, "Idempotency key: a retry returns the same evaluation");
  eval->add_flag("--wait", f.eval.wait,
                 "Wait until it ends and print it; exit 0 SUCCEEDED, 2 FAILED, 3 CANCELLED");

  CLI::App* evaluation = app.add_subcommand(
      "evaluation", "Show a stand-alone evaluation: state, scores per benchmark, the transfer report's verdict");
  evaluation->add_option("name", f.job, "Evaluation: evaluations/ft-000002 or ft-000002")->required();

  CLI::App* backup = app.add_subcommand(
      "backup", "Admins: have the coordinator copy its whole state, consistently, into a new directory on its host");
  backup->add_option("directory", f.backup_dir, "Absolute path on the coordinator's host; must not exist")
      ->required();

  for (CLI::App* command : {submit, list, get, cancel, watch, logs, checkpoints, export_command, report, workers, eval,
                            evaluation, backup}) {
    AddCommonFlags(*command, f);
  }

  return [flags, submit, list, get, cancel, watch, logs, rank, checkpoints, export_command, report, workers, eval,
          evaluation, backup]() -> std::optional<int> {
    JobFlags& f = *flags;
    if (!*submit && !*list && !*get && !*cancel && !*watch && !*logs && !*checkpoints && !*export_command &&
        !*report && !*workers && !*eval && !*evaluation && !*backup) {
      return std::nullopt;
    }

    ConnectionFlags connection;
    connection.server = NonEmpty(f.server);
    connection.token = NonEmpty(f.token);
    connection.timeout = absl::Seconds(f.timeout_seconds);
    absl::StatusOr<ConnectionOptions> options = ResolveConnection(connection, GetEnv);
    if (!options.ok()) return ReportFailure(options.status().message());
    options->tls_ca = f.tls_ca.empty() ? GetEnv("FTD_TLS_CA").value_or("") : f.tls_ca;
    absl::StatusOr<std::unique_ptr<JobClient>> created = JobClient::Create(*std::move(options));
    if (!created.ok()) return ReportFailure(created.status().message());
    JobClient& client = **created;
    const OutputFormat format = f.output == "json" ? OutputFormat::kJson : OutputFormat::kTable;

    absl::Status status = absl::OkStatus();
    if (*submit) {
      f.submit.mode = f.validate_only ? SubmitMode::kValidateOnly : SubmitMode::kSubmit;
      status = JobSubmit(client, f.submit, format, std::cout);
    } else if (*list) {
      f.list.pages = f.all_pages ? ListPages::kAll : ListPages::kOne;
      status = JobList(client, f.list, format, std::cout);
    } else if (*get) {
      status = JobGet(client, f.job, format, std::cout);
    } else if (*cancel) {
      status = JobCancel(client, f.job, f.reason, format, std::cout);
    } else if (*watch) {
      // Redraw in place only for a person at a terminal; logs and pipes get a line per change.
      const ProgressStyle style = ::isatty(::fileno(stdout)) ? ProgressStyle::kRewrite : ProgressStyle::kLines;
      absl::StatusOr<WatchOutcome> outcome = JobWatch(client, f.job, format, style, std::cout);
      if (!outcome.ok()) return ReportFailure(outcome.status().message());
      const int code = WatchExitCode(outcome->state);
      return code == 0 ? 0 : ReportFailure(outcome->message, code);
    } else if (*logs) {
      LogsOptions options;
      options.job = f.job;
      if (rank->count() > 0) options.rank = f.rank;
      if (!f.min_level.empty()) {
        v1::LogLevel level = v1::LOG_LEVEL_UNSPECIFIED;
        v1::LogLevel_Parse("LOG_LEVEL_" + absl::AsciiStrToUpper(f.min_level), &level);  // Checked by CLI11.
        options.min_level = level;
      }
      options.follow = f.follow ? LogFollow::kFollow : LogFollow::kNo;
      status = JobLogs(client, options, format, std::cout);
    } else if (*checkpoints) {
      status = JobCheckpoints(client, f.job, format, std::cout);
    } else if (*export_command) {
      f.export_options.job = f.job;
      if (!f.export_kind.empty()) {
        absl::StatusOr<v1::ArtifactKind> kind = ParseArtifactKind(f.export_kind);  // Checked by CLI11 too.
        if (!kind.ok()) return ReportFailure(kind.status().message());
        f.export_options.kind = *kind;
      }
      status = JobExport(client, f.export_options, format, std::cout);
    } else if (*report) {
      f.report.job = f.report_jobs.front();  // CLI11 requires at least one.
      f.report.more_jobs.assign(f.report_jobs.begin() + 1, f.report_jobs.end());
      status = JobReport(client, f.report, format, std::cout);
    } else if (*workers) {
      status = WorkersList(client, format, absl::Now(), std::cout);
    } else if (*backup) {
      status = StateBackup(client, f.backup_dir, format, std::cout);
    } else if (*eval || *evaluation) {
      absl::StatusOr<v1::Evaluation> outcome =
          *eval ? EvalRun(client, f.eval, format, std::cout) : EvalShow(client, f.job, format, std::cout);
      if (!outcome.ok()) return ReportFailure(outcome.status().message());
      if (*evaluation || !f.eval.wait) return 0;  // Shown (as `get`), or started: the call's outcome is the code.
      const int code = EvaluationExitCode(outcome->state());
      return code == 0 ? 0
                       : ReportFailure(absl::StrCat(outcome->name(), " ended ",
                                                    v1::EvaluationState_Name(outcome->state())),
                                       code);
    }
    return status.ok() ? 0 : ReportFailure(status.message());
  };
}

}  // namespace ftd
