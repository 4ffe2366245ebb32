// safetensors (Hugging Face's tensor file format): validated reading through mmap, writing, and sharded model
// directories (model.safetensors or model.safetensors.index.json + shards). A hostile or truncated file gives
// INVALID_ARGUMENT / DATA_LOSS naming the file and the cause, never a crash.
//
// Format: 8-byte little-endian header length N, N bytes of JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}},
// then the data buffer; offsets are relative to the buffer's start.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "model/tensor.h"

namespace ftd {

// Largest JSON header accepted, bytes (the reference implementation's bound is 100 MB).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100u << 20;

struct SafetensorsEntry {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // Byte offsets into the data buffer, [begin, end).
  uint64_t end = 0;
};

// The parsed, fully validated header of a safetensors byte image.
struct SafetensorsHeader {
  std::map<std::string, SafetensorsEntry> tensors;  // By name.
  std::map<std::string, std::string> metadata;     // "__metadata__", string values only.
  uint64_t data_start = 0;                          // 8 + header length.
};

// Parses and validates a whole safetensors image: header length within the file and the bound, UTF-8 JSON
// object, every entry with a known dtype, non-negative shape, 2 offsets, end >= begin, shape x dtype size ==
// end - begin, offsets inside the buffer, entries not overlapping and covering the buffer without gaps (as the
// reference writer lays them out). This is the fuzz target's entry point.
absl::StatusOr<SafetensorsHeader> ParseSafetensors(absl::Span<const uint8_t> bytes);

// One safetensors file, mapped read-only. Thread-compatible; views stay valid while the object lives.
class SafetensorsFile {
 public:
  // NOT_FOUND / PERMISSION_DENIED for the file, INVALID_ARGUMENT for a malformed header; messages start with
  // the path.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  // Tensor names, sorted.
  std::vector<std::string> names() const;
  bool contains(absl::string_view name) const;
  // NOT_FOUND naming the tensor and the file.
  absl::StatusOr<TensorView> Get(absl::string_view name) const;

 private:
  SafetensorsFile(std::string path, const uint8_t* base, size_t size, SafetensorsHeader header);
  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  SafetensorsHeader header_;
};

// Writes tensors contiguously in the reference writer's layout (safetensors' serialize_file, which torch's
// save_file calls): data ordered by descending dtype alignment (I64, F64, F32, I32, BF16, F16, I16, I8, U8,
// BOOL) then by name, so every tensor is aligned to its element size; compact JSON header with "__metadata__"
// first (omitted when empty), entries in data order with fields dtype, shape, data_offsets, padded with spaces
// to a multiple of 8 bytes. Given the same tensors and metadata the bytes equal the reference's. Written to
// `path` atomically (temp file in the same directory, fsync, rename): on error `path` is untouched and no temp
// file is left. INVALID_ARGUMENT for duplicate or reserved ("__metadata__") names, non-UTF-8 names, or a view
// whose byte size does not match its shape.
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<std::pair<std::string, TensorView>>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

// The bytes WriteSafetensors would write, in memory (checkpoint files travel as bytes). Same errors.
absl::StatusOr<std::string> SerializeSafetensors(const std::vector<std::pair<std::string, TensorView>>& tensors,
                                                 const std::map<std::string, std::string>& metadata = {});

// The weights of a Hugging Face model directory: model.safetensors, or model.safetensors.index.json naming
// the shard of every tensor. All shards stay mapped while the object lives.
class SafetensorsModel {
 public:
  // FAILED_PRECONDITION when the directory has neither file (model.safetensors wins when both exist, as in
  // transformers); errors of any shard name that shard. The index is validated: weight_map values are plain
  // file names in `dir`, every listed tensor is in its shard, no tensor is in two shards.
  static absl::StatusOr<std::unique_ptr<SafetensorsModel>> OpenDir(const std::string& dir);

  std::vector<std::string> names() const;  // Sorted.
  bool contains(absl::string_view name) const;
  absl::StatusOr<TensorView> Get(absl::string_view name) const;
  // Total bytes of all tensors.
  uint64_t total_bytes() const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, const SafetensorsFile*, std::less<>> by_name_;
};

// Writes `tensors` into `dir` as model.safetensors, or, when their total exceeds max_shard_bytes, as
// model-00001-of-0000N.safetensors shards plus model.safetensors.index.json ({"metadata": {"total_size": ..},
// "weight_map": {name: shard}}), as transformers' save_pretrained does (tensors assigned to shards in the given
// order; one larger than the limit gets its own shard). Metadata {"format": "pt"} is written into every shard
// so transformers loads it. Creates `dir` if missing; the index is written after the shards, and weight files
// of the other layout left by an earlier save are removed.
absl::Status WriteSafetensorsModel(const std::string& dir,
                                   const std::vector<std::pair<std::string, TensorView>>& tensors,
                                   uint64_t max_shard_bytes = uint64_t{5} << 30);

}  // namespace ftd
