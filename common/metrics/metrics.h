// The metrics interfaces every ftd component records through: counters, gauges and histograms in labelled
// families, created by a MetricsRegistry and read out by a MetricsExporter. Abstract so a prometheus-cpp build
// could replace our own TextMetricsRegistry (text_registry.h) without touching a probe (DESIGN.md, Platform facts).
//
// Probe-style use: a small class beside the code it measures resolves its children once and keeps the pointers,
// so the hot path is one atomic update with no lookup and no lock:
//
//   // Measures the data loader (worker/data_probe.h).
//   class DataLoaderProbe {
//    public:
//     static absl::StatusOr<DataLoaderProbe> Create(MetricsRegistry& registry) {
//       ASSIGN_OR_RETURN(CounterFamily* tokens,
//                        registry.AddCounter("ftd_worker_data_tokens_total", "Tokens read by the loader.",
//                                            {"split"}));
//       ASSIGN_OR_RETURN(HistogramFamily* wait,
//                        registry.AddHistogram("ftd_worker_data_wait_seconds", "Time a step waited for data.",
//                                              {}, ExponentialBuckets(0.001, 4, 6)));
//       DataLoaderProbe probe;
//       ASSIGN_OR_RETURN(probe.train_tokens_, tokens->WithLabels({"train"}));
//       ASSIGN_OR_RETURN(probe.wait_, wait->WithLabels({}));
//       return probe;
//     }
//     void BatchRead(int64_t tokens, double wait_seconds) {
//       train_tokens_->Increment(static_cast<double>(tokens));
//       wait_->Observe(wait_seconds);
//     }
//    private:
//     Counter* train_tokens_ = nullptr;
//     Histogram* wait_ = nullptr;
//   };
//
// Names follow STYLE.md: ftd_<subsystem>_<name>_<unit>, counters end in _total, base units only.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ftd {

// A value that only goes up (requests served, bytes sent). Thread-safe; lives as long as its registry.
class Counter {
 public:
  virtual ~Counter() = default;
  // Adds `delta`. A negative or NaN delta is ignored: a counter never goes down, and the hot path reports nothing.
  virtual void Increment(double delta = 1.0) = 0;
  virtual double Value() const = 0;
};

// A value that goes up and down (queue depth, bytes in use). Thread-safe; lives as long as its registry.
class Gauge {
 public:
  virtual ~Gauge() = default;
  virtual void Set(double value) = 0;
  virtual void Increment(double delta = 1.0) = 0;
  virtual void Decrement(double delta = 1.0) = 0;
  virtual double Value() const = 0;
};

// Observations counted into fixed buckets (latencies, sizes), with their sum and count. Thread-safe; lives as long
// as its registry. A value lands in the first bucket whose upper bound is >= it; NaN lands in +Inf only (and
// makes the sum NaN from then on).
class Histogram {
 public:
  virtual ~Histogram() = default;
  virtual void Observe(double value) = 0;
};

// One metric name with its label names; a child per distinct tuple of label values, created on first use and
// kept for the registry's life. Thread-safe. WithLabels takes a lock: call it once and keep the pointer.
template <typename Child>
class MetricFamily {
 public:
  virtual ~MetricFamily() = default;
  // The child for `label_values`, in the order of the family's label names (`{}` for a family without labels).
  // INVALID_ARGUMENT when the number of values differs from the number of label names.
  virtual absl::StatusOr<Child*> WithLabels(const std::vector<std::string>& label_values) = 0;
  virtual const std::string& name() const = 0;
  virtual const std::vector<std::string>& label_names() const = 0;
};

// WithLabels for callers whose label count is fixed by the family they made (so it cannot fail): the child, or
// null if it somehow did.
template <typename Child>
Child* ChildOrNull(MetricFamily<Child>* family, const std::vector<std::string>& label_values) {
  absl::StatusOr<Child*> child = family->WithLabels(label_values);
  return child.ok() ? *child : nullptr;
}

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

// Creates metric families. Families live as long as the registry. Thread-safe.
//
// Errors (all INVALID_ARGUMENT unless said): a name that is not [a-zA-Z_:][a-zA-Z0-9_:]*; a counter name without
// the _total suffix; an empty help text; a label name that is not [a-zA-Z_][a-zA-Z0-9_]*, starts with "__",
// repeats, or is "le" on a histogram; histogram bounds that are empty, not strictly increasing or not finite (a
// trailing +Inf is allowed and implied anyway, but one finite bound at least is needed); ALREADY_EXISTS for a name
// (or, for histograms, a name_bucket / name_sum / name_count series) that an earlier family already exposes.
// A refused call registers nothing.
class MetricsRegistry {
 public:
  virtual ~MetricsRegistry() = default;
  virtual absl::StatusOr<CounterFamily*> AddCounter(absl::string_view name, absl::string_view help,
                                                    std::vector<std::string> label_names) = 0;
  virtual absl::StatusOr<GaugeFamily*> AddGauge(absl::string_view name, absl::string_view help,
                                                std::vector<std::string> label_names) = 0;
  virtual absl::StatusOr<HistogramFamily*> AddHistogram(absl::string_view name, absl::string_view help,
                                                        std::vector<std::string> label_names,
                                                        std::vector<double> bucket_bounds) = 0;
};

// What an HTTP /metrics handler serves: a snapshot of every family in one exposition format. Thread-safe.
class MetricsExporter {
 public:
  virtual ~MetricsExporter() = default;
  // The HTTP Content-Type of Expose()'s text.
  virtual std::string ContentType() const = 0;
  virtual std::string Expose() const = 0;
};

// Bucket bounds for AddHistogram. Bad arguments give an empty list, which AddHistogram refuses, so the error
// surfaces as a Status where the family is made.
// `count` bounds start, start*factor, start*factor^2, ... (start > 0, factor > 1, count >= 1).
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// `count` bounds start, start+width, start+2*width, ... (width > 0, count >= 1).
std::vector<double> LinearBuckets(double start, double width, int count);

}  // namespace ftd
