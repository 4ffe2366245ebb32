// Text for ftctl's job commands: aligned tables, detail blocks, log lines, the watch line, proto JSON.
#include "cli/job_format.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"

namespace ftd {
namespace {

using Row = std::vector<std::string>;

// The value's name without the prefix its enum's zero value has ("JOB_STATE_" from JOB_STATE_UNSPECIFIED);
// the number for a value this build does not know (proto3 enums are open).
std::string EnumShortName(const google::protobuf::EnumDescriptor* descriptor, int number) {
  const google::protobuf::EnumValueDescriptor* value = descriptor->FindValueByNumber(number);
  if (value == nullptr) return absl::StrCat(number);
  absl::string_view prefix = descriptor->value(0)->name();
  absl::ConsumeSuffix(&prefix, "UNSPECIFIED");
  return std::string(absl::StripPrefix(value->name(), prefix));
}

template <typename Enum>
std::string ShortName(Enum value) {
  return EnumShortName(google::protobuf::GetEnumDescriptor<Enum>(), static_cast<int>(value));
}

template <typename Enum>
std::string LowerName(Enum value) {
  return absl::AsciiStrToLower(ShortName(value));
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

bool IsSet(const google::protobuf::Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

// 950, 1.2k, 34.5k, 1.2M: throughput at a glance.
std::string FormatRate(double value) {
  if (value < 1e3) return absl::StrFormat("%.0f", value);
  if (value < 1e6) return absl::StrFormat("%.1fk", value / 1e3);
  return absl::StrFormat("%.1fM", value / 1e6);
}

std::string FormatBytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  if (b < 1024.0 * 1024) return absl::StrFormat("%.1f KiB", b / 1024);
  if (b < 1024.0 * 1024 * 1024) return absl::StrFormat("%.1f MiB", b / (1024.0 * 1024));
  return absl::StrFormat("%.2f GiB", b / (1024.0 * 1024 * 1024));
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

// `value` with `digits` decimals, or "-" when the field is unset.
std::string FormatOptional(bool has, double value, int digits) {
  return has ? absl::StrFormat("%.*f", digits, value) : "-";
}

// Steps the job will run: the coordinator's count, else the spec's max_steps, else 0 (unknown).
int64_t TotalSteps(const v1::Job& job) {
  if (job.progress().total_steps() > 0) return job.progress().total_steps();
  if (job.resolved_spec().has_max_steps()) return job.resolved_spec().max_steps();
  if (job.spec().has_max_steps()) return job.spec().max_steps();
  return 0;
}

std::string FormatStep(int64_t step, int64_t total) {
  return total > 0 ? absl::StrCat(step, "/", total) : absl::StrCat(step);
}

v1::Method JobMethod(const v1::Job& job) {
  // The resolved spec has the default applied; a job listed before it was resolved falls back to the spec.
  const v1::Method method = job.has_resolved_spec() ? job.resolved_spec().method() : job.spec().method();
  return method == v1::METHOD_UNSPECIFIED ? v1::METHOD_LORA : method;
}

// The METHOD column: the training method, or "eval" for a stand-alone evaluation's job (it trains nothing).
std::string MethodColumn(const v1::Job& job) {
  return job.has_evaluation() ? "eval" : LowerName(JobMethod(job));
}

std::string FormatError(const v1::JobError& error) {
  std::string out = ShortName(error.code());
  if (!error.message().empty()) absl::StrAppend(&out, ": ", error.message());
  if (error.has_rank()) absl::StrAppend(&out, " (rank ", error.rank(), ")");
  if (error.step() > 0) absl::StrAppend(&out, " at step ", error.step());
  return out;
}

}  // namespace

std::string RenderTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const std::vector<std::string>& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const std::vector<std::string>& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out.append(widths[i] - row[i].size() + 2, ' ');
    }
    out += '\n';
  }
  return out;
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message, JsonLayout layout) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = layout == JsonLayout::kIndented;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print ", message.GetTypeName(), " as JSON: ",
                                            std::string(status.message())));
  }
  // The indented form ends with a newline, the one-line form does not; both leave here without one.
  while (!json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

std::string JobStateName(v1::JobState state) { return ShortName(state); }

std::string FormatTimestamp(const google::protobuf::Timestamp& time) {
  if (!IsSet(time)) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", FromProto(time), absl::UTCTimeZone());
}

std::string FormatEta(absl::Duration eta) {
  if (eta < absl::ZeroDuration()) return "-";
  const int64_t s = absl::ToInt64Seconds(eta);
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, s % 86400 / 3600);
}

std::string FormatJobTable(const google::protobuf::RepeatedPtrField<v1::Job>& jobs) {
  std::vector<Row> rows = {{"JOB", "NAME", "STATE", "METHOD", "STEP", "BASE MODEL", "CREATED"}};
  for (const v1::Job& job : jobs) {
    rows.push_back({job.name(), OrDash(job.spec().name()), JobStateName(job.state()), MethodColumn(job),
                    FormatStep(job.progress().step(), TotalSteps(job)), OrDash(job.spec().base_model()),
                    FormatTimestamp(job.create_time())});
  }
  return RenderTable(rows);
}

std::string FormatJobDetails(const v1::Job& job) {
  const v1::JobProgress& p = job.progress();
  std::vector<Row> rows = {
      {"job:", job.name()},
      {"name:", OrDash(job.spec().name())},
      {"state:", JobStateName(job.state())},
      {"base model:", OrDash(job.spec().base_model())},
      {"method:", MethodColumn(job)},
      {"created:", FormatTimestamp(job.create_time())},
      {"started:", FormatTimestamp(job.start_time())},
      {"ended:", FormatTimestamp(job.end_time())},
      {"step:", FormatStep(p.step(), TotalSteps(job))},
      {"epoch:", absl::StrFormat("%.2f", p.epoch())},
      {"tokens seen:", absl::StrCat(p.tokens_seen())},
      {"train loss:", FormatOptional(p.has_train_loss(), p.train_loss(), 4)},
      {"eval task loss:", FormatOptional(p.has_eval_task_loss(), p.eval_task_loss(), 4)},
      {"general ppl:", FormatOptional(p.has_eval_general_perplexity(), p.eval_general_perplexity(), 2)},
      {"base general ppl:", FormatOptional(p.has_base_general_perplexity(), p.base_general_perplexity(), 2)},
      {"tokens/s:", p.tokens_per_second() > 0 ? FormatRate(p.tokens_per_second()) : "-"},
      {"eta:", p.has_eta() ? FormatEta(FromProto(p.eta())) : "-"},
      {"restarts:", absl::StrCat(job.restart_count())},
      {"best checkpoint:", OrDash(job.best_checkpoint())},
  };
  if (job.has_error()) rows.push_back({"error:", FormatError(job.error())});
  for (const v1::RankPlacement& r : job.placement()) {
    rows.push_back({absl::StrCat("rank ", r.rank(), ":"), absl::StrCat(r.worker(), " ", r.host(), " ", r.device())});
  }
  if (!job.request_id().empty()) rows.push_back({"request id:", job.request_id()});
  return RenderTable(rows);
}

std::string FormatCheckpointTable(const google::protobuf::RepeatedPtrField<v1::Checkpoint>& checkpoints) {
  std::vector<Row> rows = {
      {"CHECKPOINT", "STEP", "EPOCH", "KIND", "SIZE", "TRAIN LOSS", "EVAL LOSS", "GENERAL PPL", "BEST", "CREATED"}};
  for (const v1::Checkpoint& c : checkpoints) {
    const v1::MetricsSample& m = c.metrics();
    rows.push_back({c.name(), absl::StrCat(c.step()), absl::StrFormat("%.2f", c.epoch()), LowerName(c.kind()),
                    FormatBytes(c.size_bytes()), FormatOptional(m.has_train_loss(), m.train_loss(), 4),
                    FormatOptional(m.has_eval_task_loss(), m.eval_task_loss(), 4),
                    FormatOptional(m.has_eval_general_perplexity(), m.eval_general_perplexity(), 2),
                    c.is_best() ? "*" : "", FormatTimestamp(c.create_time())});
  }
  return RenderTable(rows);
}

std::string FormatLogLine(const v1::LogLine& line) {
  const std::string source = line.has_rank() ? absl::StrCat("[rank ", line.rank(), "]") : "[ftd]";
  std::string level = line.level() == v1::LOG_LEVEL_UNSPECIFIED ? "-" : ShortName(line.level());
  level.resize(std::max<size_t>(level.size(), 7), ' ');  // WARNING is the longest.
  return absl::StrCat(FormatTimestamp(line.time()), " ", level, " ", source, " ", line.text());
}

// --- WatchProgress ---

WatchProgress::WatchProgress(const v1::Job& snapshot)
    : name_(snapshot.name()),
      state_(snapshot.state()),
      step_(snapshot.progress().step()),
      total_steps_(TotalSteps(snapshot)) {
  const v1::JobProgress& p = snapshot.progress();
  if (p.has_train_loss()) train_loss_ = p.train_loss();
  if (p.has_eval_general_perplexity()) general_perplexity_ = p.eval_general_perplexity();
  if (p.has_base_general_perplexity()) base_general_perplexity_ = p.base_general_perplexity();
  if (p.tokens_per_second() > 0) tokens_per_second_ = p.tokens_per_second();
  if (p.has_eta()) eta_ = FromProto(p.eta());
  if (snapshot.has_error()) *last_change_.mutable_error() = snapshot.error();
}

void WatchProgress::Apply(const v1::JobEvent& event) {
  switch (event.event_case()) {
    case v1::JobEvent::kStateChange:
      last_change_ = event.state_change();
      state_ = last_change_.to_state();
      rate_anchor_.reset();  // A restart or a new phase: the old rate says nothing about the next steps.
      break;
    case v1::JobEvent::kMetrics: {
      const v1::MetricsSample& m = event.metrics();
      if (m.has_rank() && m.rank() != 0) break;
      if (m.step() == 0) {
        // "Before training": the base model's evaluation.
        if (m.has_eval_general_perplexity()) base_general_perplexity_ = m.eval_general_perplexity();
        break;
      }
      const Sample sample{m.step(), FromProto(m.has_time() ? m.time() : event.time())};
      if (m.step() < step_) rate_anchor_.reset();  // Resumed from an earlier checkpoint.
      step_ = m.step();
      if (m.has_train_loss()) train_loss_ = m.train_loss();
      if (m.has_eval_general_perplexity()) general_perplexity_ = m.eval_general_perplexity();
      if (m.has_tokens_per_second()) tokens_per_second_ = m.tokens_per_second();
      if (!rate_anchor_.has_value()) {
        rate_anchor_ = sample;
      } else if (sample.step > rate_anchor_->step && sample.time > rate_anchor_->time && total_steps_ > 0) {
        const double steps_per_second = static_cast<double>(sample.step - rate_anchor_->step) /
                                        absl::ToDoubleSeconds(sample.time - rate_anchor_->time);
        const int64_t left = std::max<int64_t>(total_steps_ - sample.step, 0);
        eta_ = absl::Seconds(std::ceil(static_cast<double>(left) / steps_per_second));
      }
      break;
    }
    case v1::JobEvent::kEarlyStop: {
      const v1::EarlyStop& e = event.early_stop();
      early_stop_ = e;
      general_perplexity_ = e.general_perplexity();
      if (e.base_general_perplexity() > 0) base_general_perplexity_ = e.base_general_perplexity();
      break;
    }
    case v1::JobEvent::kEvaluationProgress:
      evaluation_ = event.evaluation_progress();
      break;
    default:
      break;  // Logs and checkpoints do not change the line.
  }
}

std::string WatchProgress::Line() const {
  std::string line = absl::StrCat(name_, " ", JobStateName(state_), " step ", FormatStep(step_, total_steps_));
  absl::StrAppend(&line, " loss ", train_loss_.has_value() ? absl::StrFormat("%.4f", *train_loss_) : "-");
  absl::StrAppend(&line, " ppl ",
                  general_perplexity_.has_value() ? absl::StrFormat("%.2f", *general_perplexity_) : "-");
  if (base_general_perplexity_.has_value()) {
    absl::StrAppend(&line, absl::StrFormat(" (base %.2f)", *base_general_perplexity_));
  }
  absl::StrAppend(&line, " ", tokens_per_second_.has_value() ? FormatRate(*tokens_per_second_) : "-", " tok/s");
  absl::StrAppend(&line, " eta ",
                  state_ == v1::JOB_STATE_RUNNING && eta_.has_value() ? FormatEta(*eta_) : "-");
  if (state_ == v1::JOB_STATE_EVALUATING && evaluation_.has_value()) {
    const v1::EvaluationProgress& e = *evaluation_;
    absl::StrAppend(&line, " eval ", LowerName(e.role()), " ", LowerName(e.suite()), " ", e.benchmark_index() + 1,
                    "/", e.benchmark_count(), " items ", e.items_done(), "/",
                    e.items_total() > 0 ? absl::StrCat(e.items_total()) : "?");
  }
  return line;
}

std::string WatchProgress::Outcome() const {
  std::string out = absl::StrCat(name_, " ", JobStateName(state_));
  if (!last_change_.reason().empty()) absl::StrAppend(&out, " (", last_change_.reason(), ")");
  std::string detail;
  if (state_ == v1::JOB_STATE_EARLY_STOPPED && early_stop_.has_value()) {
    const v1::EarlyStop& e = *early_stop_;
    detail = absl::StrFormat(
        "general perplexity %.2f over the limit %.2f (base %.2f) for %d evaluations; kept %s", e.general_perplexity(),
        e.limit(), e.base_general_perplexity(), e.evaluations_over_limit(), OrDash(e.best_checkpoint()));
  } else if (last_change_.has_error() && last_change_.error().code() != v1::ERROR_CODE_UNSPECIFIED) {
    detail = FormatError(last_change_.error());
  } else if (!last_change_.message().empty()) {
    detail = last_change_.message();
  }
  if (!detail.empty()) absl::StrAppend(&out, ": ", detail);
  return out;
}

}  // namespace ftd
