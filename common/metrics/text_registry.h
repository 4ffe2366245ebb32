// TextMetricsRegistry: ftd's own MetricsRegistry, exposing its families in the Prometheus text format 0.0.4.
// It stands in for prometheus-cpp, which Debian 12 does not package (DESIGN.md, Platform facts).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics/metrics.h"

namespace ftd {

// Lifecycle: one per process (or per test), made by the owner (the daemon's application object) and passed to
// the probes and to the HTTP server by reference; it must outlive both. Families and children are never removed.
//
// Threading: everything is thread-safe. Updates are lock-free atomics on the child; registration takes the
// registry's lock, WithLabels the family's; Expose takes the registry's lock, then each family's in turn, and
// reads the children with relaxed loads, so one exposition may see a concurrent update to one child and not to
// another. A histogram's _count is the sum of its buckets read in that pass, so it always equals the +Inf bucket.
//
// Exposition: families sorted by name, each with # HELP and # TYPE, then its children sorted by label values; a
// family with label names but no child yet is left out, a family without labels shows its one child from the
// start (at zero). Histograms expose cumulative name_bucket{...,le="..."} lines ending in le="+Inf", then
// name_sum and name_count. No timestamps: Prometheus stamps samples at scrape time.
class TextMetricsRegistry final : public MetricsRegistry, public MetricsExporter {
 public:
  TextMetricsRegistry();
  ~TextMetricsRegistry() override;
  TextMetricsRegistry(const TextMetricsRegistry&) = delete;
  TextMetricsRegistry& operator=(const TextMetricsRegistry&) = delete;

  absl::StatusOr<CounterFamily*> AddCounter(absl::string_view name, absl::string_view help,
                                            std::vector<std::string> label_names) override;
  absl::StatusOr<GaugeFamily*> AddGauge(absl::string_view name, absl::string_view help,
                                        std::vector<std::string> label_names) override;
  absl::StatusOr<HistogramFamily*> AddHistogram(absl::string_view name, absl::string_view help,
                                                std::vector<std::string> label_names,
                                                std::vector<double> bucket_bounds) override;

  // kPrometheusTextContentType.
  std::string ContentType() const override;
  std::string Expose() const override;

  // Implemented in text_registry.cc; public only so the .cc's family templates can derive from it.
  class ExposableFamily;

 private:
  // Claims `series` (the sample names a new family will write) or returns ALREADY_EXISTS naming the first taken.
  absl::Status ClaimSeriesNames(const std::vector<std::string>& series) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  // By name: exposition order.
  std::map<std::string, std::unique_ptr<ExposableFamily>> families_ ABSL_GUARDED_BY(mu_);
  // Every sample name a family writes (a histogram's name, name_bucket, name_sum, name_count), to refuse clashes.
  std::set<std::string> series_names_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ftd
