// How ftctl's job commands print: human tables and detail blocks, log lines, the `watch` progress line, and proto
// JSON for `-o json`. Pure functions of protos (plus WatchProgress's folded state), so tests check exact text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ftd/v1/checkpoint.pb.h"
#include "ftd/v1/eval.pb.h"
#include "ftd/v1/job.pb.h"
#include "ftd/v1/job_event.pb.h"
#include "ftd/v1/metrics.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace ftd {

// Proto JSON (lowerCamelCase names, enums by name, unset fields left out) as MessageToJsonString writes it:
// indented for one message, one line per message for streams (`watch`, `logs`), so those are JSON Lines.
enum class JsonLayout { kIndented, kOneLine };
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message, JsonLayout layout);

// "RUNNING" for JOB_STATE_RUNNING: the value name without the enum's prefix (the one its UNSPECIFIED value has).
std::string JobStateName(v1::JobState state);

// "2025-01-02T03:04:05Z" (UTC, whole seconds); "-" for an unset timestamp.
std::string FormatTimestamp(const google::protobuf::Timestamp& time);

// "45s", "2m30s", "1h02m", "3d04h"; "-" for a negative duration.
std::string FormatEta(absl::Duration eta);

// Columns JOB, NAME, STATE, METHOD, STEP, BASE MODEL, CREATED; one row per job, a header even when empty.
// Left-aligned columns two spaces apart; the last column is not padded, so lines carry no trailing blanks. Every
// ftctl table is drawn with it.
std::string RenderTable(const std::vector<std::vector<std::string>>& rows);

std::string FormatJobTable(const google::protobuf::RepeatedPtrField<v1::Job>& jobs);

// `ftctl get`: one "key: value" line per field a user asks about (state, progress, times, error, placement).
std::string FormatJobDetails(const v1::Job& job);

// Columns CHECKPOINT, STEP, EPOCH, KIND, SIZE, TRAIN LOSS, EVAL LOSS, GENERAL PPL, BEST, CREATED.
std::string FormatCheckpointTable(const google::protobuf::RepeatedPtrField<v1::Checkpoint>& checkpoints);

// "2025-01-02T03:04:05Z INFO    [rank 0] text", levels padded to WARNING's width; "[ftd]" marks the coordinator's
// own lines.
std::string FormatLogLine(const v1::LogLine& line);

// Folds a job's snapshot (GetJob) and then its events (WatchJob) into what `ftctl watch` shows:
//   jobs/ft-000001 RUNNING step 40/100 loss 1.2346 ppl 12.34 (base 11.90) 1.2k tok/s eta 2m30s
// Unknown values print as "-". Metrics come from job-level samples and rank 0's (other ranks' are ignored, so
// per-rank reports cannot make the line jump); a sample at step 0 with a general perplexity is the base model's.
// ETA is the snapshot's until two samples after the last state change give a measured rate of steps per second
// (from the samples' times, so a replayed history gives the same ETA as a live one); it shows only in RUNNING.
// Not thread-safe: one per watch.
class WatchProgress {
 public:
  explicit WatchProgress(const v1::Job& snapshot);

  void Apply(const v1::JobEvent& event);

  std::string Line() const;
  v1::JobState state() const { return state_; }
  // For a terminal state, one line on how the job ended, from the last state change and early-stop events:
  //   "jobs/ft-000002 FAILED (NaNLoss): NAN_LOSS: loss became NaN at step 40"
  std::string Outcome() const;

 private:
  struct Sample {
    int64_t step = 0;
    absl::Time time;
  };

  std::string name_;
  v1::JobState state_ = v1::JOB_STATE_UNSPECIFIED;
  int64_t step_ = 0;
  int64_t total_steps_ = 0;
  std::optional<double> train_loss_;
  std::optional<double> general_perplexity_;
  std::optional<double> base_general_perplexity_;
  std::optional<double> tokens_per_second_;
  std::optional<absl::Duration> eta_;
  std::optional<Sample> rate_anchor_;  // First sample since the last state change (or step going back).
  std::optional<v1::EvaluationProgress> evaluation_;
  v1::StateChange last_change_;
  std::optional<v1::EarlyStop> early_stop_;
};

}  // namespace ftd
