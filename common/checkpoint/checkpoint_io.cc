// The checkpoint format: manifest JSON, the writer that cuts files into CRC32C'd chunks, the verifying reader and
// pruning. nlohmann_json stays inside this file; its exceptions never leave it (malformed input is DATA_LOSS).
#include "common/checkpoint/checkpoint_io.h"

#include <limits>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

// ordered_json keeps members in insertion order: manifests read top-down (format, name, step, ...) and the
// writer's metadata keeps its own member order through a round trip.
using Json = nlohmann::ordered_json;

constexpr absl::string_view kFormat = "ftd-checkpoint/1";

absl::Status ManifestError(absl::string_view checkpoint, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("checkpoint ", checkpoint, ": manifest ", what));
}

// Parses without exceptions: nullopt for anything that is not valid JSON.
std::optional<Json> ParseJson(absl::string_view text) {
  Json value = Json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

const Json* Member(const Json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::optional<int64_t> AsInt64(const Json* value) {
  if (value == nullptr) return std::nullopt;
  // Non-negative integers parse as unsigned, negative ones as signed; floats are not integers here.
  if (value->is_number_unsigned()) {
    const uint64_t u = value->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (value->is_number_integer()) return value->get<int64_t>();
  return std::nullopt;
}

std::optional<std::string> AsString(const Json* value) {
  if (value == nullptr || !value->is_string()) return std::nullopt;
  return value->get<std::string>();
}

absl::StatusOr<CheckpointFileEntry> DecodeFile(absl::string_view checkpoint, size_t i, const Json& entry) {
  if (!entry.is_object()) return ManifestError(checkpoint, absl::StrCat("file ", i, " is not an object"));
  CheckpointFileEntry file;
  std::optional<std::string> name = AsString(Member(entry, "name"));
  std::optional<int64_t> size = AsInt64(Member(entry, "size_bytes"));
  if (!name.has_value() || name->empty()) {
    return ManifestError(checkpoint, absl::StrCat("file ", i, " has no name"));
  }
  if (!size.has_value() || *size < 0) {
    return ManifestError(checkpoint, absl::StrCat("file ", i, " (\"", *name, "\") has no size_bytes >= 0"));
  }
  file.name = *std::move(name);
  file.size_bytes = *size;
  return file;
}

absl::StatusOr<CheckpointChunkEntry> DecodeChunk(absl::string_view checkpoint, size_t i, const Json& entry) {
  if (!entry.is_object()) return ManifestError(checkpoint, absl::StrCat("chunk ", i, " is not an object"));
  std::optional<int64_t> file = AsInt64(Member(entry, "file"));
  std::optional<int64_t> offset = AsInt64(Member(entry, "offset"));
  std::optional<int64_t> size = AsInt64(Member(entry, "size"));
  std::optional<int64_t> crc = AsInt64(Member(entry, "crc32c"));
  if (!file.has_value() || !offset.has_value() || !size.has_value() || !crc.has_value()) {
    return ManifestError(checkpoint, absl::StrCat("chunk ", i, " lacks an integer file, offset, size or crc32c"));
  }
  if (*crc < 0 || *crc > int64_t{std::numeric_limits<uint32_t>::max()}) {
    return ManifestError(checkpoint, absl::StrCat("chunk ", i, " has crc32c ", *crc, ", not a 32-bit value"));
  }
  if (*size <= 0) return ManifestError(checkpoint, absl::StrCat("chunk ", i, " has size ", *size, " (want > 0)"));
  CheckpointChunkEntry chunk;
  chunk.file = *file < 0 || *file > std::numeric_limits<int32_t>::max() ? -1 : static_cast<int32_t>(*file);
  chunk.offset = *offset;
  chunk.size = *size;
  chunk.crc32c = static_cast<uint32_t>(*crc);
  return chunk;
}

// The chunks must cover the files in order, each from offset 0 to its size, without gap or overlap (empty files
// have no chunks), so that reading them back in order rebuilds every file.
absl::Status CheckTiling(absl::string_view checkpoint, const CheckpointManifest& manifest) {
  const std::vector<CheckpointFileEntry>& files = manifest.files;
  size_t file = 0;
  int64_t position = 0;
  auto skip_complete_files = [&] {
    while (file < files.size() && position == files[file].size_bytes) {
      ++file;
      position = 0;
    }
  };
  for (size_t i = 0; i < manifest.chunks.size(); ++i) {
    const CheckpointChunkEntry& chunk = manifest.chunks[i];
    skip_complete_files();
    if (file == files.size()) {
      return ManifestError(checkpoint, absl::StrCat("chunk ", i, " lies past the end of the last file"));
    }
    if (chunk.file != static_cast<int64_t>(file) || chunk.offset != position ||
        chunk.size > files[file].size_bytes - position) {
      return ManifestError(checkpoint, absl::StrCat("chunk ", i, " (file ", chunk.file, ", offset ", chunk.offset,
                                                    ", size ", chunk.size, ") does not continue file \"",
                                                    files[file].name, "\" (", files[file].size_bytes,
                                                    " bytes) at offset ", position));
    }
    position += chunk.size;
  }
  skip_complete_files();
  if (file != files.size()) {
    return ManifestError(checkpoint, absl::StrCat("chunks end at offset ", position, " of file \"", files[file].name,
                                                  "\" (", files[file].size_bytes, " bytes)"));
  }
  return absl::OkStatus();
}

// Whether `name` can go into the manifest as a JSON string (nlohmann rejects invalid UTF-8 when dumping).
bool IsEncodableString(absl::string_view name) {
  try {
    (void)Json(std::string(name)).dump();
    return true;
  } catch (const Json::exception&) {
    return false;
  }
}

}  // namespace

std::string EncodeCheckpointManifest(const CheckpointManifest& manifest) {
  Json root = Json::object();
  root["format"] = kFormat;
  root["name"] = manifest.name;
  root["step"] = manifest.step;
  std::optional<Json> metadata = ParseJson(manifest.metadata_json);
  root["metadata"] = metadata.has_value() && metadata->is_object() ? *std::move(metadata) : Json(nullptr);
  Json files = Json::array();
  for (const CheckpointFileEntry& file : manifest.files) {
    files.push_back(Json{{"name", file.name}, {"size_bytes", file.size_bytes}});
  }
  root["files"] = std::move(files);
  Json chunks = Json::array();
  for (const CheckpointChunkEntry& chunk : manifest.chunks) {
    chunks.push_back(
        Json{{"file", chunk.file}, {"offset", chunk.offset}, {"size", chunk.size}, {"crc32c", chunk.crc32c}});
  }
  root["chunks"] = std::move(chunks);
  // `replace` cannot trigger for names the writer accepted (it checks UTF-8); it keeps this function throw-free.
  return root.dump(/*indent=*/-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

absl::StatusOr<CheckpointManifest> DecodeCheckpointManifest(absl::string_view checkpoint, absl::string_view json) {
  std::optional<Json> root = ParseJson(json);
  if (!root.has_value()) return ManifestError(checkpoint, "is not valid JSON");
  if (!root->is_object()) return ManifestError(checkpoint, "is not a JSON object");
  std::optional<std::string> format = AsString(Member(*root, "format"));
  if (!format.has_value() || *format != kFormat) {
    return ManifestError(checkpoint, absl::StrCat("has format \"", format.value_or("(none)"), "\", want \"",
                                                  kFormat, "\""));
  }
  CheckpointManifest manifest;
  std::optional<std::string> name = AsString(Member(*root, "name"));
  if (!name.has_value() || *name != checkpoint) {
    return ManifestError(checkpoint, absl::StrCat("names checkpoint \"", name.value_or("(none)"), "\""));
  }
  manifest.name = *std::move(name);
  std::optional<int64_t> step = AsInt64(Member(*root, "step"));
  if (!step.has_value() || *step < 0) return ManifestError(checkpoint, "has no integer step >= 0");
  manifest.step = *step;
  const Json* metadata = Member(*root, "metadata");
  if (metadata != nullptr) {
    if (!metadata->is_object()) return ManifestError(checkpoint, "has metadata that is not a JSON object");
    manifest.metadata_json = metadata->dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  const Json* files = Member(*root, "files");
  const Json* chunks = Member(*root, "chunks");
  if (files == nullptr || !files->is_array() || chunks == nullptr || !chunks->is_array()) {
    return ManifestError(checkpoint, "lacks the files or chunks array");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < files->size(); ++i) {
    ASSIGN_OR_RETURN(CheckpointFileEntry file, DecodeFile(checkpoint, i, (*files)[i]));
    if (!names.insert(file.name).second) {
      return ManifestError(checkpoint, absl::StrCat("names file \"", file.name, "\" twice"));
    }
    manifest.files.push_back(std::move(file));
  }
  for (size_t i = 0; i < chunks->size(); ++i) {
    ASSIGN_OR_RETURN(CheckpointChunkEntry chunk, DecodeChunk(checkpoint, i, (*chunks)[i]));
    manifest.chunks.push_back(chunk);
  }
  RETURN_IF_ERROR(CheckTiling(checkpoint, manifest));
  return manifest;
}

absl::StatusOr<CheckpointWriter> CheckpointWriter::Begin(CheckpointStore* store, std::string name,
                                                         int64_t chunk_bytes) {
  if (store == nullptr) return absl::InvalidArgumentError("CheckpointWriter::Begin: no store");
  RETURN_IF_ERROR(ValidateCheckpointName(name));
  if (chunk_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint ", name, ": chunk_bytes ", chunk_bytes, " <= 0"));
  }
  absl::StatusOr<std::string> existing = store->GetManifest(name);
  if (existing.ok()) return absl::AlreadyExistsError(absl::StrCat("checkpoint ", name, " is already committed"));
  if (!absl::IsNotFound(existing.status())) return existing.status();
  return CheckpointWriter(store, std::move(name), chunk_bytes);
}

absl::Status CheckpointWriter::AddFile(absl::string_view file_name, absl::string_view bytes) {
  const std::string& name = manifest_.name;
  if (committed_) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint ", name, ": AddFile after Commit"));
  }
  if (file_name.empty() || !IsEncodableString(file_name)) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint ", name, ": file name is empty or not UTF-8"));
  }
  for (const CheckpointFileEntry& file : manifest_.files) {
    if (file.name == file_name) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint ", name, ": file \"", file_name, "\" added twice"));
    }
  }
  const auto file_index = static_cast<int32_t>(manifest_.files.size());
  // The manifest only learns of the file once all its chunks are stored, so a failed AddFile can be retried.
  std::vector<CheckpointChunkEntry> chunks;
  for (int64_t offset = 0; offset < static_cast<int64_t>(bytes.size()); offset += chunk_bytes_) {
    const absl::string_view piece = bytes.substr(static_cast<size_t>(offset), static_cast<size_t>(chunk_bytes_));
    const auto index = static_cast<int64_t>(manifest_.chunks.size() + chunks.size());
    RETURN_IF_ERROR_CONTEXT(store_->PutChunk(name, index, piece),
                            absl::StrCat("checkpoint ", name, " file \"", file_name, "\""));
    chunks.push_back({file_index, offset, static_cast<int64_t>(piece.size()), Crc32c(piece)});
  }
  manifest_.files.push_back({std::string(file_name), static_cast<int64_t>(bytes.size())});
  manifest_.chunks.insert(manifest_.chunks.end(), chunks.begin(), chunks.end());
  return absl::OkStatus();
}

absl::Status CheckpointWriter::Commit(int64_t step, absl::string_view metadata_json) {
  const std::string& name = manifest_.name;
  if (committed_) return absl::FailedPreconditionError(absl::StrCat("checkpoint ", name, " is already committed"));
  if (step < 0) return absl::InvalidArgumentError(absl::StrCat("checkpoint ", name, ": step ", step, " < 0"));
  std::optional<Json> metadata = ParseJson(metadata_json);
  if (!metadata.has_value() || !metadata->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint ", name, ": metadata is not a JSON object"));
  }
  manifest_.step = step;
  manifest_.metadata_json = std::string(metadata_json);
  RETURN_IF_ERROR(store_->CommitManifest(name, EncodeCheckpointManifest(manifest_)));
  committed_ = true;
  return absl::OkStatus();
}

absl::StatusOr<CheckpointManifest> ReadCheckpointManifest(CheckpointStore& store, absl::string_view checkpoint) {
  ASSIGN_OR_RETURN(std::string json, store.GetManifest(checkpoint));
  return DecodeCheckpointManifest(checkpoint, json);
}

absl::StatusOr<std::map<std::string, std::string>> ReadCheckpointFiles(CheckpointStore& store,
                                                                       absl::string_view checkpoint) {
  ASSIGN_OR_RETURN(CheckpointManifest manifest, ReadCheckpointManifest(store, checkpoint));
  std::vector<std::string> contents(manifest.files.size());
  for (size_t f = 0; f < manifest.files.size(); ++f) contents[f].reserve(manifest.files[f].size_bytes);
  for (size_t i = 0; i < manifest.chunks.size(); ++i) {
    const CheckpointChunkEntry& chunk = manifest.chunks[i];
    const std::string where =
        absl::StrCat("checkpoint ", checkpoint, " file \"", manifest.files[chunk.file].name, "\" chunk ", i);
    absl::StatusOr<std::string> bytes = store.GetChunk(checkpoint, static_cast<int64_t>(i));
    if (absl::IsNotFound(bytes.status())) {
      // A chunk vanishing under a manifest is corruption, unless the whole checkpoint was deleted meanwhile (a
      // writer's GC in another process): then it is simply gone.
      if (absl::IsNotFound(store.GetManifest(checkpoint).status())) {
        return absl::NotFoundError(absl::StrCat("checkpoint ", checkpoint, " was deleted while being read"));
      }
      return absl::DataLossError(absl::StrCat(where, " is missing: ", bytes.status().message()));
    }
    if (!bytes.ok()) return Annotate(bytes.status(), where);
    if (static_cast<int64_t>(bytes->size()) != chunk.size) {
      return absl::DataLossError(absl::StrCat(where, " has ", bytes->size(), " bytes, the manifest says ", chunk.size,
                                              static_cast<int64_t>(bytes->size()) < chunk.size ? " (truncated)" : ""));
    }
    const uint32_t crc = Crc32c(*bytes);
    if (crc != chunk.crc32c) {
      return absl::DataLossError(absl::StrFormat("%s: CRC32C mismatch: manifest 0x%08x, chunk 0x%08x", where,
                                                 chunk.crc32c, crc));
    }
    contents[chunk.file].append(*bytes);
  }
  std::map<std::string, std::string> files;
  for (size_t f = 0; f < manifest.files.size(); ++f) files.emplace(manifest.files[f].name, std::move(contents[f]));
  return files;
}

absl::Status PruneCheckpoints(CheckpointStore& store, int64_t keep_latest, const std::set<std::string>& keep) {
  if (keep_latest <= 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<std::string> names, store.ListCommitted());
  if (static_cast<int64_t>(names.size()) <= keep_latest) return absl::OkStatus();
  const size_t prunable = names.size() - static_cast<size_t>(keep_latest);
  for (size_t i = 0; i < prunable; ++i) {
    if (keep.contains(names[i])) continue;
    RETURN_IF_ERROR(store.Delete(names[i]));
  }
  return absl::OkStatus();
}

}  // namespace ftd
