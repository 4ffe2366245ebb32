// BuildTransferReport: a job's benchmark results, base and tuned, into the ftd.v1.TransferReport: one
// MetricComparison per metric of each benchmark, judged by the transfer verdict rule (common/transfer_verdict.h:
// |gain| against 1.96 combined standard errors), and the overall verdict as eval.proto defines it.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ftd/v1/eval.pb.h"
#include "ftd/v1/job.pb.h"

namespace ftd {

// `base` and `tuned` hold one BenchmarkResult per benchmark of the job's resolved spec, in spec order.
// INVALID_ARGUMENT when their counts differ from the spec's or a tuned metric has no base counterpart.
absl::StatusOr<ftd::v1::TransferReport> BuildTransferReport(const ftd::v1::Job& job,
                                                            const std::vector<ftd::v1::BenchmarkResult>& base,
                                                            const std::vector<ftd::v1::BenchmarkResult>& tuned,
                                                            absl::Time now);

}  // namespace ftd
