// TextMetricsRegistry: atomic children in labelled families, validated at registration, written out in the
// Prometheus text format 0.0.4. See text_registry.h for the threading and exposition contract.
#include "common/metrics/text_registry.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/metrics/text_format.h"

namespace ftd {

// A family as the registry sees it: something that appends its lines to an exposition.
class TextMetricsRegistry::ExposableFamily {
 public:
  virtual ~ExposableFamily() = default;
  virtual void AppendTo(std::string& out) const = 0;
};

namespace {

enum class MetricType { kCounter, kGauge, kHistogram };

absl::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

class CounterImpl final : public Counter {
 public:
  void Increment(double delta) override {
    if (!(delta >= 0)) return;  // Negative or NaN.
    value_.fetch_add(delta, std::memory_order_relaxed);
  }
  double Value() const override { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class GaugeImpl final : public Gauge {
 public:
  void Set(double value) override { value_.store(value, std::memory_order_relaxed); }
  void Increment(double delta) override { value_.fetch_add(delta, std::memory_order_relaxed); }
  void Decrement(double delta) override { value_.fetch_sub(delta, std::memory_order_relaxed); }
  double Value() const override { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class HistogramImpl final : public Histogram {
 public:
  // `bounds`: the family's finite, strictly increasing upper bounds, shared by all its children.
  explicit HistogramImpl(std::shared_ptr<const std::vector<double>> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_->size() + 1) {}

  void Observe(double value) override {
    // The first bound >= value; past the end (the +Inf bucket) for larger values and for NaN, which compares
    // false with every bound and would otherwise land in the first bucket.
    const size_t bucket = std::isnan(value) ? bounds_->size()
                                            : static_cast<size_t>(std::lower_bound(bounds_->begin(), bounds_->end(),
                                                                                   value) -
                                                                  bounds_->begin());
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  const std::vector<double>& bounds() const { return *bounds_; }
  // Per-bucket (not cumulative) counts, the last one for +Inf.
  std::vector<uint64_t> BucketCounts() const {
    std::vector<uint64_t> counts(counts_.size());
    for (size_t i = 0; i < counts_.size(); ++i) counts[i] = counts_[i].load(std::memory_order_relaxed);
    return counts;
  }
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::vector<std::atomic<uint64_t>> counts_;  // bounds_->size() + 1; sized once, never resized.
  std::atomic<double> sum_{0.0};
};

// `a="x",b="y"`: the label pairs of one child, without braces (a histogram appends its le pair).
std::string LabelPairs(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  return out;
}

void AppendSample(std::string& out, absl::string_view name, absl::string_view label_pairs, double value) {
  if (label_pairs.empty()) {
    absl::StrAppend(&out, name, " ", FormatMetricValue(value), "\n");
  } else {
    absl::StrAppend(&out, name, "{", label_pairs, "} ", FormatMetricValue(value), "\n");
  }
}

void AppendChild(std::string& out, const std::string& name, const std::string& label_pairs, const CounterImpl& c) {
  AppendSample(out, name, label_pairs, c.Value());
}

void AppendChild(std::string& out, const std::string& name, const std::string& label_pairs, const GaugeImpl& g) {
  AppendSample(out, name, label_pairs, g.Value());
}

void AppendChild(std::string& out, const std::string& name, const std::string& label_pairs, const HistogramImpl& h) {
  const std::vector<uint64_t> counts = h.BucketCounts();
  const std::vector<double>& bounds = h.bounds();
  const std::string bucket_name = absl::StrCat(name, "_bucket");
  const std::string le_prefix = label_pairs.empty() ? "le=\"" : absl::StrCat(label_pairs, ",le=\"");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const double bound = i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity();
    AppendSample(out, bucket_name, absl::StrCat(le_prefix, FormatMetricValue(bound), "\""),
                 static_cast<double>(cumulative));
  }
  AppendSample(out, absl::StrCat(name, "_sum"), label_pairs, h.Sum());
  AppendSample(out, absl::StrCat(name, "_count"), label_pairs, static_cast<double>(cumulative));
}

// One family of `Impl` children handed out as `Interface`; children keyed (and so exposed) by label values.
template <typename Interface, typename Impl>
class Family final : public MetricFamily<Interface>, public TextMetricsRegistry::ExposableFamily {
 public:
  Family(absl::string_view name, absl::string_view help, MetricType type, std::vector<std::string> label_names,
         std::function<std::unique_ptr<Impl>()> make_child)
      : name_(name),
        escaped_help_(EscapeHelpText(help)),
        type_(type),
        label_names_(std::move(label_names)),
        make_child_(std::move(make_child)) {}

  absl::StatusOr<Interface*> WithLabels(const std::vector<std::string>& label_values) override {
    if (label_values.size() != label_names_.size()) {
      return absl::InvalidArgumentError(absl::StrCat("metric ", name_, " has ", label_names_.size(),
                                                     " label name(s) (", absl::StrJoin(label_names_, ", "),
                                                     ") but ", label_values.size(), " value(s) were given"));
    }
    absl::MutexLock lock(&mu_);
    std::unique_ptr<Impl>& child = children_[label_values];
    if (child == nullptr) child = make_child_();
    return child.get();
  }

  const std::string& name() const override { return name_; }
  const std::vector<std::string>& label_names() const override { return label_names_; }

  void AppendTo(std::string& out) const override {
    absl::MutexLock lock(&mu_);
    if (children_.empty()) return;
    absl::StrAppend(&out, "# HELP ", name_, " ", escaped_help_, "\n# TYPE ", name_, " ", TypeName(type_), "\n");
    for (const auto& [label_values, child] : children_) {
      AppendChild(out, name_, LabelPairs(label_names_, label_values), *child);
    }
  }

 private:
  const std::string name_;
  const std::string escaped_help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<Impl>()> make_child_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Impl>> children_ ABSL_GUARDED_BY(mu_);
};

absl::Status ValidateFamily(absl::string_view name, absl::string_view help,
                            const std::vector<std::string>& label_names, MetricType type) {
  if (!IsValidMetricName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric name \"", name, "\" is not of the form [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  if (type == MetricType::kCounter && !absl::EndsWith(name, "_total")) {
    return absl::InvalidArgumentError(absl::StrCat("counter ", name, " must end in _total"));
  }
  if (help.empty()) return absl::InvalidArgumentError(absl::StrCat("metric ", name, " needs a help text"));
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!IsValidLabelName(label)) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", name, ": label name \"", label, "\" is not of the form [a-zA-Z_][a-zA-Z0-9_]*"));
    }
    if (absl::StartsWith(label, "__")) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", name, ": label name ", label, " starts with __, which Prometheus reserves"));
    }
    if (type == MetricType::kHistogram && label == "le") {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram ", name, ": label name le is reserved for the bucket bounds"));
    }
    if (std::find(label_names.begin(), label_names.begin() + i, label) != label_names.begin() + i) {
      return absl::InvalidArgumentError(absl::StrCat("metric ", name, ": label name ", label, " repeats"));
    }
  }
  return absl::OkStatus();
}

// Drops a trailing +Inf (always implied) and checks the rest are finite and strictly increasing, with one at least.
absl::StatusOr<std::vector<double>> NormalizeBounds(absl::string_view name, std::vector<double> bounds) {
  if (!bounds.empty() && bounds.back() == std::numeric_limits<double>::infinity()) bounds.pop_back();
  if (bounds.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("histogram ", name, " needs at least one finite bucket bound (+Inf is implied)"));
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      return absl::InvalidArgumentError(absl::StrCat("histogram ", name, ": bucket bound ",
                                                     FormatMetricValue(bounds[i]), " is not finite"));
    }
    if (i > 0 && !(bounds[i - 1] < bounds[i])) {
      return absl::InvalidArgumentError(absl::StrCat("histogram ", name, ": bucket bounds must strictly increase (",
                                                     FormatMetricValue(bounds[i - 1]), " then ",
                                                     FormatMetricValue(bounds[i]), ")"));
    }
  }
  return bounds;
}

}  // namespace

TextMetricsRegistry::TextMetricsRegistry() = default;
TextMetricsRegistry::~TextMetricsRegistry() = default;

absl::Status TextMetricsRegistry::ClaimSeriesNames(const std::vector<std::string>& series) {
  for (const std::string& s : series) {
    if (series_names_.count(s) != 0) {
      return absl::AlreadyExistsError(absl::StrCat("metric name ", s, " is already registered"));
    }
  }
  series_names_.insert(series.begin(), series.end());
  return absl::OkStatus();
}

absl::StatusOr<CounterFamily*> TextMetricsRegistry::AddCounter(absl::string_view name, absl::string_view help,
                                                               std::vector<std::string> label_names) {
  if (absl::Status s = ValidateFamily(name, help, label_names, MetricType::kCounter); !s.ok()) return s;
  const bool unlabelled = label_names.empty();
  auto family = std::make_unique<Family<Counter, CounterImpl>>(name, help, MetricType::kCounter,
                                                               std::move(label_names),
                                                               [] { return std::make_unique<CounterImpl>(); });
  CounterFamily* result = family.get();
  absl::MutexLock lock(&mu_);
  if (absl::Status s = ClaimSeriesNames({std::string(name)}); !s.ok()) return s;
  if (unlabelled) (void)family->WithLabels({});  // Shown from the start, at zero.
  families_.emplace(std::string(name), std::move(family));
  return result;
}

absl::StatusOr<GaugeFamily*> TextMetricsRegistry::AddGauge(absl::string_view name, absl::string_view help,
                                                           std::vector<std::string> label_names) {
  if (absl::Status s = ValidateFamily(name, help, label_names, MetricType::kGauge); !s.ok()) return s;
  const bool unlabelled = label_names.empty();
  auto family = std::make_unique<Family<Gauge, GaugeImpl>>(name, help, MetricType::kGauge, std::move(label_names),
                                                           [] { return std::make_unique<GaugeImpl>(); });
  GaugeFamily* result = family.get();
  absl::MutexLock lock(&mu_);
  if (absl::Status s = ClaimSeriesNames({std::string(name)}); !s.ok()) return s;
  if (unlabelled) (void)family->WithLabels({});
  families_.emplace(std::string(name), std::move(family));
  return result;
}

absl::StatusOr<HistogramFamily*> TextMetricsRegistry::AddHistogram(absl::string_view name, absl::string_view help,
                                                                   std::vector<std::string> label_names,
                                                                   std::vector<double> bucket_bounds) {
  if (absl::Status s = ValidateFamily(name, help, label_names, MetricType::kHistogram); !s.ok()) return s;
  absl::StatusOr<std::vector<double>> bounds = NormalizeBounds(name, std::move(bucket_bounds));
  if (!bounds.ok()) return bounds.status();
  auto shared_bounds = std::make_shared<const std::vector<double>>(*std::move(bounds));
  const bool unlabelled = label_names.empty();
  auto family = std::make_unique<Family<Histogram, HistogramImpl>>(
      name, help, MetricType::kHistogram, std::move(label_names),
      [shared_bounds] { return std::make_unique<HistogramImpl>(shared_bounds); });
  HistogramFamily* result = family.get();
  absl::MutexLock lock(&mu_);
  if (absl::Status s = ClaimSeriesNames({std::string(name), absl::StrCat(name, "_bucket"), absl::StrCat(name, "_sum"),
                                         absl::StrCat(name, "_count")});
      !s.ok()) {
    return s;
  }
  if (unlabelled) (void)family->WithLabels({});
  families_.emplace(std::string(name), std::move(family));
  return result;
}

std::string TextMetricsRegistry::ContentType() const { return std::string(kPrometheusTextContentType); }

std::string TextMetricsRegistry::Expose() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, family] : families_) family->AppendTo(out);
  return out;
}

}  // namespace ftd
