// BuildProvenanceJson: the spec as JSON plus file hashes; ParseProvenanceSpec: the spec back.
#include "worker/service/provenance.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

using json = nlohmann::json;

absl::StatusOr<json> HashFile(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string digest, Sha256OfFile(path));
  return json{{"path", path}, {"sha256", digest}};
}

}  // namespace

absl::StatusOr<std::string> BuildProvenanceJson(const std::string& job, int attempt, const v1::JobSpec& resolved_spec,
                                                const std::string& ftd_version) {
  std::string spec_text;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(resolved_spec, &spec_text, print).ok()) {
    return absl::InternalError("cannot encode the job spec as JSON");
  }
  json datasets = json::array();
  for (const v1::Dataset& dataset : resolved_spec.datasets()) {
    ASSIGN_OR_RETURN(json entry, HashFile(dataset.path()));
    datasets.push_back(std::move(entry));
  }
  if (resolved_spec.has_early_stopping() && !resolved_spec.early_stopping().general_eval_dataset().empty()) {
    ASSIGN_OR_RETURN(json entry, HashFile(resolved_spec.early_stopping().general_eval_dataset()));
    entry["role"] = "early_stopping.general_eval_dataset";
    datasets.push_back(std::move(entry));
  }
  std::vector<std::string> model_files;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(resolved_spec.base_model(), ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file()) model_files.push_back(it->path().string());
  }
  if (ec) {
    return absl::NotFoundError(absl::StrCat("base_model ", resolved_spec.base_model(), ": ", ec.message()));
  }
  std::sort(model_files.begin(), model_files.end());
  json base_files = json::object();
  for (const std::string& path : model_files) {
    ASSIGN_OR_RETURN(const std::string digest, Sha256OfFile(path));
    base_files[std::filesystem::relative(path, resolved_spec.base_model()).generic_string()] = digest;
  }
  const json provenance = {{"job", job},
                           {"attempt", attempt},
                           {"ftd_version", ftd_version},
                           {"seed", resolved_spec.seed()},
                           {"spec", json::parse(spec_text)},
                           {"datasets", datasets},
                           {"base_model", {{"path", resolved_spec.base_model()}, {"files", base_files}}}};
  return provenance.dump(2) + "\n";
}

absl::StatusOr<v1::JobSpec> ParseProvenanceSpec(const std::string& text, const std::string& file_name) {
  const json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": not a JSON object"));
  }
  const auto spec = parsed.find("spec");
  if (spec == parsed.end() || !spec->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": no \"spec\" object"));
  }
  v1::JobSpec out;
  const auto status = google::protobuf::util::JsonStringToMessage(spec->dump(), &out);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ": its spec is not a job spec: ", std::string(status.message())));
  }
  return out;
}

}  // namespace ftd
