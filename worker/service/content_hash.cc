// ContentSha256 / ModelSha256 / QuantizedModelSha256 / BenchmarkDataSha256: files hashed with common/sha256,
// trees as sorted lines.
#include "worker/service/content_hash.h"

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace ftd {
namespace {

// The tree hash of (relative path, file) pairs, sorted by relative path.
absl::StatusOr<std::string> TreeSha256(std::vector<std::pair<std::string, std::string>> files) {
  std::sort(files.begin(), files.end());
  std::string lines;
  for (const auto& [relative, path] : files) {
    ASSIGN_OR_RETURN(const std::string digest, Sha256OfFile(path));
    absl::StrAppend(&lines, relative, std::string(1, '\0'), digest, "\n");
  }
  return Sha256Hex(lines);
}

}  // namespace

absl::StatusOr<std::string> ContentSha256(const std::string& path) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path, ": ", ec ? ec.message() : "no such file or directory"));
  }
  if (!std::filesystem::is_directory(status)) return Sha256OfFile(path);
  std::vector<std::pair<std::string, std::string>> files;
  const auto options = std::filesystem::directory_options::follow_directory_symlink;
  for (std::filesystem::recursive_directory_iterator it(path, options, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file()) {
      files.emplace_back(std::filesystem::relative(it->path(), path).generic_string(), it->path().string());
    }
  }
  if (ec) return absl::NotFoundError(absl::StrCat(path, ": ", ec.message()));
  return TreeSha256(std::move(files));
}

absl::StatusOr<std::string> ModelSha256(const std::string& model, const std::string& adapter) {
  ASSIGN_OR_RETURN(const std::string model_hash, ContentSha256(model));
  if (adapter.empty()) return model_hash;
  ASSIGN_OR_RETURN(const std::string adapter_hash, ContentSha256(adapter));
  return CombineModelSha256(model_hash, adapter_hash);
}

std::string CombineModelSha256(const std::string& model_sha256, const std::string& adapter_sha256) {
  if (adapter_sha256.empty()) return model_sha256;
  return Sha256Hex(absl::StrCat(model_sha256, "+", adapter_sha256));
}

std::string QuantizedModelSha256(const std::string& model_sha256, const std::string& quantize_base) {
  if (quantize_base.empty()) return model_sha256;
  return Sha256Hex(absl::StrCat(model_sha256, "|quantize-base=", quantize_base));
}

absl::StatusOr<std::string> BenchmarkDataSha256(const v1::Benchmark& benchmark) {
  if (benchmark.path().empty()) return std::string();
  if (benchmark.suite() == v1::BENCHMARK_SUITE_PIQA) {
    const std::filesystem::path jsonl(benchmark.path());
    const std::filesystem::path labels = jsonl.parent_path() / "valid-labels.lst";
    std::vector<std::pair<std::string, std::string>> files = {{jsonl.filename().string(), jsonl.string()}};
    if (std::filesystem::exists(labels)) files.emplace_back(labels.filename().string(), labels.string());
    return TreeSha256(std::move(files));
  }
  return ContentSha256(benchmark.path());
}

}  // namespace ftd
