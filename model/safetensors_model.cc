// Hugging Face model directories of safetensors weights: model.safetensors, or shards named by
// model.safetensors.index.json; reading (validated index) and writing (transformers' shard names and split).
#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "model/safetensors.h"
#include "model/strict_json.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

using json = nlohmann::json;

constexpr char kSingleFileName[] = "model.safetensors";
constexpr char kIndexFileName[] = "model.safetensors.index.json";

// transformers' shard file name: model-00001-of-00002.safetensors.
std::string ShardFileName(size_t index, size_t count) {
  return absl::StrFormat("model-%05d-of-%05d.safetensors", index + 1, count);
}

bool IsShardFileName(absl::string_view name) {
  if (name.size() != ShardFileName(0, 1).size() || !absl::StartsWith(name, "model-") ||
      !absl::EndsWith(name, ".safetensors") || name.substr(11, 4) != "-of-") {
    return false;
  }
  for (size_t i : {6, 7, 8, 9, 10, 15, 16, 17, 18, 19}) {
    if (name[i] < '0' || name[i] > '9') return false;
  }
  return true;
}

// Removes what an earlier save with another layout left behind (a stale model.safetensors would shadow new
// shards; stale shards would confuse a reader listing the directory). `keep` are the files just written.
absl::Status RemoveStaleWeights(const std::string& dir, const std::set<std::string>& keep) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return absl::ErrnoToStatus(errno, absl::StrCat(dir, ": cannot list"));
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if ((name == kSingleFileName || name == kIndexFileName || IsShardFileName(name)) && !keep.count(name)) {
      stale.push_back(name);
    }
  }
  ::closedir(d);
  for (const std::string& name : stale) {
    const std::string path = JoinPath(dir, name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot remove stale weights file"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsModel>> SafetensorsModel::OpenDir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return absl::ErrnoToStatus(errno, absl::StrCat(dir, ": cannot open"));
  if (!S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat(dir, ": not a directory"));
  auto model = std::unique_ptr<SafetensorsModel>(new SafetensorsModel());
  model->dir_ = dir;

  const std::string single = JoinPath(dir, kSingleFileName);
  if (::stat(single.c_str(), &st) == 0) {
    ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(single));
    for (const auto& [name, entry] : file->header().tensors) model->by_name_.emplace(name, file.get());
    model->shards_.push_back(std::move(file));
    return model;
  }
  const std::string index_path = JoinPath(dir, kIndexFileName);
  if (::stat(index_path.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, ": holds neither ", kSingleFileName, " nor ", kIndexFileName));
  }
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path, kMaxSafetensorsHeaderBytes));
  ASSIGN_OR_RETURN(json index, ParseJsonStrict(text, index_path));
  auto bad_index = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(index_path, ": ", parts...));
  };
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    return bad_index("has no \"weight_map\" object");
  }
  if (index["weight_map"].empty()) return bad_index("\"weight_map\" is empty");
  std::map<std::string, std::vector<std::string>> listed;  // Shard file -> tensors the index puts there.
  for (const auto& [name, file] : index["weight_map"].items()) {
    if (!file.is_string()) return bad_index("shard of tensor ", JsonQuote(name), " is a JSON ", file.type_name());
    const std::string file_name = file.get<std::string>();
    if (file_name.empty() || file_name == "." || file_name == ".." || file_name.find('/') != std::string::npos) {
      return bad_index("shard ", JsonQuote(file_name), " of tensor ", JsonQuote(name), " is not a file name in the directory");
    }
    listed[file_name].push_back(name);
  }
  for (const auto& [file_name, names] : listed) {
    ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> shard, SafetensorsFile::Open(JoinPath(dir, file_name)));
    for (const std::string& name : names) {
      if (!shard->contains(name)) {
        return bad_index("lists tensor ", JsonQuote(name), " in ", file_name, " but that shard does not hold it");
      }
    }
    // A shard's tensors the index does not list are still served, as transformers loads whole shards.
    for (const auto& [name, entry] : shard->header().tensors) {
      auto [it, inserted] = model->by_name_.emplace(name, shard.get());
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat(dir, ": tensor ", JsonQuote(name), " is in two shards, ",
                                                       it->second->path(), " and ", shard->path()));
      }
    }
    model->shards_.push_back(std::move(shard));
  }
  return model;
}

std::vector<std::string> SafetensorsModel::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& [name, file] : by_name_) out.push_back(name);
  return out;
}

bool SafetensorsModel::contains(absl::string_view name) const { return by_name_.find(name) != by_name_.end(); }

absl::StatusOr<TensorView> SafetensorsModel::Get(absl::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return absl::NotFoundError(absl::StrCat(dir_, ": model has no tensor ", JsonQuote(name)));
  return it->second->Get(name);
}

uint64_t SafetensorsModel::total_bytes() const {
  uint64_t total = 0;
  for (const auto& [name, file] : by_name_) {
    const SafetensorsEntry& e = file->header().tensors.at(name);
    total += e.end - e.begin;
  }
  return total;
}

absl::Status WriteSafetensorsModel(const std::string& dir,
                                   const std::vector<std::pair<std::string, TensorView>>& tensors,
                                   uint64_t max_shard_bytes) {
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat(dir, ": cannot create directory"));
  }
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  // huggingface_hub's split_state_dict_into_shards: in the given order, start a new shard when the next tensor
  // would tip the current one over the limit; a tensor larger than the limit gets a shard of its own.
  using Shard = std::vector<std::pair<std::string, TensorView>>;
  std::vector<Shard> shards;
  Shard current;
  uint64_t current_bytes = 0, total_bytes = 0, total_parameters = 0;
  for (const auto& tensor : tensors) {
    const uint64_t bytes = tensor.second.data.size();
    total_bytes += bytes;
    total_parameters += static_cast<uint64_t>(NumElements(tensor.second.shape));
    if (bytes > max_shard_bytes) {
      shards.push_back({tensor});
      continue;
    }
    if (current_bytes + bytes > max_shard_bytes) {
      shards.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current.push_back(tensor);
    current_bytes += bytes;
  }
  if (!current.empty() || shards.empty()) shards.push_back(std::move(current));

  if (shards.size() == 1) {
    RETURN_IF_ERROR(WriteSafetensors(JoinPath(dir, kSingleFileName), shards[0], metadata));
    return RemoveStaleWeights(dir, {kSingleFileName});
  }
  if (shards.size() > 99999) return absl::InvalidArgumentError(absl::StrCat(dir, ": more than 99999 shards"));
  std::set<std::string> written = {kIndexFileName};
  json weight_map = json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = ShardFileName(i, shards.size());
    RETURN_IF_ERROR(WriteSafetensors(JoinPath(dir, name), shards[i], metadata));
    for (const auto& tensor : shards[i]) weight_map[tensor.first] = name;
    written.insert(name);
  }
  // Written last, so an index on disk always names complete shards. As transformers writes it: indent 2, keys
  // sorted, total_parameters as recent versions add it.
  json index = {{"metadata", {{"total_parameters", total_parameters}, {"total_size", total_bytes}}},
                {"weight_map", weight_map}};
  const std::string text = index.dump(2) + "\n";
  RETURN_IF_ERROR(WriteFileAtomically(JoinPath(dir, kIndexFileName), {AsBytes(text)}));
  return RemoveStaleWeights(dir, written);
}

}  // namespace ftd
