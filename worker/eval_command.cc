// RunEvalCommand: load the model, RunSuite, print.
#include "worker/eval_command.h"

#include <ostream>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/inference_model.h"

namespace ftd {
namespace {

using json = nlohmann::json;

json ToJson(const SuiteResult& result) {
  json metrics = json::object();
  for (const SuiteMetric& m : result.metrics) {
    metrics[m.name] = {{"value", m.value},
                       {"stderr", m.standard_error.has_value() ? json(*m.standard_error) : json(nullptr)},
                       {"higher_is_better", m.higher_is_better}};
  }
  json out = {{"suite", result.name}, {"items", result.items}, {"metrics", metrics}};
  if (!result.subtasks.empty()) {
    out["subtasks"] = json::array();
    for (const SuiteResult& sub : result.subtasks) out["subtasks"].push_back(ToJson(sub));
  }
  return out;
}

void PrintRows(const SuiteResult& result, std::ostream& out) {
  for (const SuiteMetric& m : result.metrics) {
    out << absl::StrFormat("%-36s %7d  %-16s %12.6f  %s\n", result.name, result.items, m.name, m.value,
                           m.standard_error.has_value() ? absl::StrFormat("%.6f", *m.standard_error) : "N/A");
  }
  for (const SuiteResult& sub : result.subtasks) PrintRows(sub, out);
}

}  // namespace

absl::Status RunEvalCommand(const EvalCommandOptions& options, std::ostream& out, std::ostream& progress) {
  EvalCommandOptions resolved = options;
  ASSIGN_OR_RETURN(resolved.spec.kind, ParseSuiteKind(options.suite));
  if (options.max_length < 0) return absl::InvalidArgumentError("--max-length must be >= 0");
  const LlamaLoadOptions load{.quantize = options.quantize_base};
  ASSIGN_OR_RETURN(InferenceModel loaded, LoadInferenceModel(options.model_dir, options.adapter_dir, load));
  SuiteRunOptions run;
  run.max_length = options.max_length;
  absl::Time last = absl::Now();
  run.progress = [&](int64_t done, int64_t total) {
    if (absl::Now() - last < absl::Seconds(1) && done != total) return;
    last = absl::Now();
    progress << options.suite << ": " << done << "/" << total << "\n" << std::flush;
  };
  ASSIGN_OR_RETURN(const SuiteResult result, RunSuite(*loaded.model, *loaded.tokenizer, resolved.spec, run));
  if (options.json) {
    out << ToJson(result).dump() << "\n";
    return absl::OkStatus();
  }
  out << absl::StrFormat("%-36s %7s  %-16s %12s  %s\n", "SUITE", "ITEMS", "METRIC", "VALUE", "STDERR");
  PrintRows(result, out);
  return absl::OkStatus();
}

}  // namespace ftd
