// CoordinatorJobService's paged reads over the store: ListJobs (both orders), GetJobLogs (the job's log events)
// and ListCheckpoints (the committed checkpoints' manifests).
#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/checkpoint/checkpoint_io.h"
#include "common/status_macros.h"
#include "coordinator/service/job_list_query.h"
#include "coordinator/service/job_service.h"

#include "coordinator/service/checkpoint_transfer.h"
#include "coordinator/service/resource_names.h"

namespace ftd {
namespace {

constexpr int kDefaultJobsPageSize = 50;
constexpr int kMaxJobsPageSize = 1000;
constexpr int kDefaultLogsPageSize = 1000;
constexpr int kMaxLogsPageSize = 10000;
constexpr int kDefaultCheckpointsPageSize = 50;
constexpr int kMaxCheckpointsPageSize = 1000;
// Jobs read from the store per call while scanning for a newest-first page.
constexpr int kJobScanPage = 500;
// Events read from the store per call while collecting log lines.
constexpr int kEventScanBatch = 512;

// 0 -> the default, above the maximum -> the maximum, negative -> INVALID_ARGUMENT.
absl::StatusOr<int> PageSize(int32_t requested, int default_size, int max_size) {
  if (requested < 0) return absl::InvalidArgumentError(absl::StrCat("page_size: must be >= 0, got ", requested));
  if (requested == 0) return default_size;
  return std::min<int>(requested, max_size);
}

// Page tokens of GetJobLogs and ListCheckpoints: "<kind>|<job id>|<fields...>", web-safe base64. Binding the job
// means a token replayed for another job is refused instead of skipping its lines.
std::string EncodeCursorToken(absl::string_view kind, absl::string_view job_id, absl::string_view position) {
  return absl::WebSafeBase64Escape(absl::StrCat(kind, "|", job_id, "|", position));
}

// The position part of a token made by EncodeCursorToken for this kind and job.
absl::StatusOr<std::string> DecodeCursorToken(absl::string_view token, absl::string_view kind,
                                              absl::string_view job_id) {
  std::string raw;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, absl::MaxSplits('|', 2));
  if (parts.size() != 3 || parts[0] != kind) return absl::InvalidArgumentError("page_token is malformed");
  if (parts[1] != job_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token was issued for job ", JobName(parts[1]), ", not ", JobName(job_id)));
  }
  return parts[2];
}

bool MatchesLogQuery(const v1::LogLine& line, const v1::GetJobLogsRequest& request) {
  if (request.has_rank() && (!line.has_rank() || line.rank() != request.rank())) return false;
  return line.level() >= request.min_level();
}

v1::Checkpoint CheckpointOf(const v1::Job& job, absl::string_view job_id, const CheckpointManifest& manifest,
                            CheckpointStore& checkpoints) {
  // An uploaded checkpoint carries what rank 0 said about it (attempt, epoch, files with SHA-256, metrics).
  absl::StatusOr<v1::Checkpoint> uploaded = ReadStoredCheckpoint(checkpoints, JobName(job_id), manifest.name);
  v1::Checkpoint checkpoint;
  if (uploaded.ok()) {
    checkpoint = *std::move(uploaded);
    checkpoint.clear_trainer_state();  // Opaque trainer state: for resuming ranks, not for listings.
  } else {
    checkpoint.set_step(manifest.step);
    checkpoint.set_kind(job.resolved_spec().method() == v1::METHOD_FULL ? v1::CHECKPOINT_KIND_FULL
                                                                         : v1::CHECKPOINT_KIND_ADAPTER);
    int64_t size = 0;
    for (const CheckpointFileEntry& file : manifest.files) {
      v1::FileEntry& entry = *checkpoint.add_files();
      entry.set_path(file.name);
      entry.set_size_bytes(file.size_bytes);
      size += file.size_bytes;
    }
    checkpoint.set_size_bytes(size);
  }
  checkpoint.set_name(absl::StrCat(JobName(job_id), "/checkpoints/", manifest.name));
  checkpoint.set_chunk_count(static_cast<int32_t>(manifest.chunks.size()));
  checkpoint.set_is_best(!job.best_checkpoint().empty() && job.best_checkpoint() == checkpoint.name());
  return checkpoint;
}

}  // namespace

// --- ListJobs ---

absl::StatusOr<v1::ListJobsResponse> CoordinatorJobService::List(const v1::ListJobsRequest& request,
                                                                 const std::string& owner) {
  ASSIGN_OR_RETURN(const int page_size, PageSize(request.page_size(), kDefaultJobsPageSize, kMaxJobsPageSize));
  ASSIGN_OR_RETURN(const JobFilter filter, ParseJobFilter(request.filter()));
  ASSIGN_OR_RETURN(const JobOrder order, ParseJobOrder(request.order_by()));
  std::string cursor;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(cursor, DecodePageToken(request.page_token(), request.filter(), request.order_by()));
  }
  v1::ListJobsResponse response;

  if (order == JobOrder::kOldestFirst) {
    // The store pages in creation order itself; the cursor is its page token.
    JobQuery query;
    query.filter = [&](const v1::Job& job) { return (owner.empty() || job.user() == owner) && filter.Matches(job); };
    query.page_size = page_size;
    query.page_token = cursor;
    absl::StatusOr<JobPage> page = store_.ListJobs(query);
    if (page.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::InvalidArgumentError("page_token is malformed");
    }
    RETURN_IF_ERROR(page.status());
    for (v1::Job& job : page->jobs) *response.add_jobs() = std::move(job);
    if (!page->next_page_token.empty()) {
      response.set_next_page_token(EncodePageToken(page->next_page_token, request.filter(), request.order_by()));
    }
    return response;
  }

  // Newest first: the store only pages oldest first, so scan up to the cursor (the id of the oldest job already
  // listed) keeping the last page_size + 1 matches. O(jobs) reads per page; a reverse order in JobQuery would
  // make it O(page).
  const std::string cursor_name = cursor.empty() ? "" : JobName(cursor);
  std::deque<v1::Job> window;  // Oldest first; at most page_size + 1.
  bool reached_cursor = false;
  JobQuery query;
  // The cursor job passes too, whatever its state is now, so the scan knows where to stop.
  query.filter = [&](const v1::Job& job) {
    return job.name() == cursor_name || ((owner.empty() || job.user() == owner) && filter.Matches(job));
  };
  query.page_size = kJobScanPage;
  while (!reached_cursor) {
    ASSIGN_OR_RETURN(JobPage page, store_.ListJobs(query));
    for (v1::Job& job : page.jobs) {
      if (!cursor_name.empty() && job.name() == cursor_name) {
        reached_cursor = true;
        break;
      }
      window.push_back(std::move(job));
      if (static_cast<int>(window.size()) > page_size + 1) window.pop_front();
    }
    if (page.next_page_token.empty()) break;
    query.page_token = std::move(page.next_page_token);
  }
  if (!cursor_name.empty() && !reached_cursor) return absl::InvalidArgumentError("page_token is malformed");
  if (static_cast<int>(window.size()) > page_size) {
    // Older matches remain: the next page resumes below the oldest job of this one.
    window.pop_front();
    const std::string oldest_id(absl::StripPrefix(window.front().name(), "jobs/"));
    response.set_next_page_token(EncodePageToken(oldest_id, request.filter(), request.order_by()));
  }
  for (auto it = window.rbegin(); it != window.rend(); ++it) *response.add_jobs() = std::move(*it);
  return response;
}

// --- GetJobLogs ---

absl::StatusOr<v1::GetJobLogsResponse> CoordinatorJobService::Logs(const v1::GetJobLogsRequest& request) {
  ASSIGN_OR_RETURN(const std::string id, ParseJobName(request.name(), "name"));
  ASSIGN_OR_RETURN(const int page_size, PageSize(request.page_size(), kDefaultLogsPageSize, kMaxLogsPageSize));
  int64_t scanned = 0;  // Sequence of the last event looked at.
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(const std::string position, DecodeCursorToken(request.page_token(), "logs", id));
    if (!absl::SimpleAtoi(position, &scanned) || scanned < 0) {
      return absl::InvalidArgumentError("page_token is malformed");
    }
  }
  v1::GetJobLogsResponse response;
  int64_t last_listed = scanned;
  while (true) {
    absl::StatusOr<std::vector<v1::JobEvent>> batch = store_.ListEvents(id, scanned, kEventScanBatch);
    if (!batch.ok()) return JobNotFoundAs(batch.status(), request.name());
    for (v1::JobEvent& event : *batch) {
      scanned = event.sequence();
      if (!event.has_log() || !MatchesLogQuery(event.log(), request)) continue;
      if (response.lines_size() == page_size) {
        // Another line follows this page: hand out a token, so a page with a token is never followed by nothing.
        response.set_next_page_token(EncodeCursorToken("logs", id, absl::StrCat(last_listed)));
        return response;
      }
      *response.add_lines() = std::move(*event.mutable_log());
      last_listed = scanned;
    }
    if (static_cast<int>(batch->size()) < kEventScanBatch) return response;
  }
}

// --- ListCheckpoints ---

absl::StatusOr<v1::ListCheckpointsResponse> CoordinatorJobService::Checkpoints(
    const v1::ListCheckpointsRequest& request) {
  ASSIGN_OR_RETURN(const std::string id, ParseJobName(request.parent(), "parent"));
  ASSIGN_OR_RETURN(const int page_size,
                   PageSize(request.page_size(), kDefaultCheckpointsPageSize, kMaxCheckpointsPageSize));
  // Resume strictly after (step, name) of the last checkpoint listed: checkpoints come and go (pruning), so an
  // index would skip or repeat.
  std::optional<std::pair<int64_t, std::string>> after;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(const std::string position, DecodeCursorToken(request.page_token(), "checkpoints", id));
    const std::vector<std::string> parts = absl::StrSplit(position, absl::MaxSplits('|', 1));
    int64_t step = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &step)) {
      return absl::InvalidArgumentError("page_token is malformed");
    }
    after.emplace(step, parts[1]);
  }
  absl::StatusOr<v1::Job> job = store_.GetJob(id);
  if (!job.ok()) return JobNotFoundAs(job.status(), request.parent());
  ASSIGN_OR_RETURN(const std::unique_ptr<CheckpointStore> checkpoints, store_.Checkpoints(id));
  ASSIGN_OR_RETURN(const std::vector<std::string> names, checkpoints->ListCommitted());

  std::vector<CheckpointManifest> manifests;
  for (const std::string& name : names) {
    absl::StatusOr<CheckpointManifest> manifest = ReadCheckpointManifest(*checkpoints, name);
    if (manifest.status().code() == absl::StatusCode::kNotFound) continue;  // Pruned since ListCommitted.
    RETURN_IF_ERROR(manifest.status());
    if (after.has_value() && std::tie(manifest->step, manifest->name) <= std::tie(after->first, after->second)) {
      continue;
    }
    manifests.push_back(*std::move(manifest));
  }
  std::sort(manifests.begin(), manifests.end(), [](const CheckpointManifest& a, const CheckpointManifest& b) {
    return std::tie(a.step, a.name) < std::tie(b.step, b.name);
  });

  v1::ListCheckpointsResponse response;
  for (const CheckpointManifest& manifest : manifests) {
    if (response.checkpoints_size() == page_size) {
      const CheckpointManifest& last = manifests[static_cast<size_t>(page_size) - 1];
      response.set_next_page_token(
          EncodeCursorToken("checkpoints", id, absl::StrCat(last.step, "|", last.name)));
      break;
    }
    *response.add_checkpoints() = CheckpointOf(*job, id, manifest, *checkpoints);
  }
  return response;
}

}  // namespace ftd
